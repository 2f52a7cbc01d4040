//! How each fuzz target turns its input bytes into a call, and what it checks about the answer.
//!
//! This file is shared: the fuzz targets call it through the `nanotel-fuzz` library, and
//! `tests/fuzz_corpus.rs` includes it with `#[path]`, so replaying the corpus runs exactly what the
//! fuzzer ran. Beyond "does not panic", each function asserts the promises its decoder documents,
//! so that the fuzzer also finds wrong answers.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, HeaderName, HeaderValue};

use base64::Engine;
use nanotel::internal::{
    accepts_gzip, choose_format, classify_response, container_id_from_cgroup, container_id_from_mountinfo,
    environment_problems, grpc_outcome, parse_headers, parse_resource_attributes, parse_retry_after, signal_url,
    ExportOutcome, GrpcMessage, HttpResponse,
};
use nanotel::prometheus::Format;
use nanotel::propagation::{b3, traceparent, B3Propagator, Baggage, BaggagePropagator, TraceContextPropagator};
use nanotel::trace::TraceState;
use nanotel::Signal;

/// Header values worth hitting exactly, which random bytes rarely spell; a length byte of
/// `0xF0 + index` picks one (see [`Input::header`]).
const KNOWN_HEADER_VALUES: [&str; 15] = [
    "application/x-protobuf",
    "application/protobuf",
    "application/json",
    "application/json; charset=utf-8",
    "text/plain",
    "gzip",
    "x-gzip",
    "identity",
    "br",
    "0",
    "120",
    "Sun, 06 Nov 1994 08:49:37 GMT",
    "Sunday, 06-Nov-94 08:49:37 GMT",
    "Sun Nov  6 08:49:37 1994",
    "",
];

/// The fixed "now" of [`response_decoder`]: Tue, 14 Nov 2023 22:13:20 GMT.
const RESPONSE_NOW_SECS: u64 = 1_700_000_000;

/// Reads structured values off the front of the fuzz input; past the end everything is zero.
struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&byte, rest)) => {
                self.0 = rest;
                byte
            }
            None => 0,
        }
    }

    fn u64(&mut self) -> u64 {
        (0..8).fold(0, |value, _| value << 8 | u64::from(self.byte()))
    }

    /// One header: a length byte, then that many bytes read as (lossy) UTF-8. `0xFF` means the
    /// header is absent and `0xF0..=0xFE` picks a [`KNOWN_HEADER_VALUES`] entry.
    fn header(&mut self) -> Option<String> {
        match self.byte() {
            0xFF => None,
            known @ 0xF0..=0xFE => Some(KNOWN_HEADER_VALUES[usize::from(known - 0xF0)].to_owned()),
            len => {
                let len = usize::from(len).min(self.0.len());
                let (text, rest) = self.0.split_at(len);
                self.0 = rest;
                Some(String::from_utf8_lossy(text).into_owned())
            }
        }
    }

    fn signal(&mut self) -> Signal {
        Signal::ALL[usize::from(self.byte() % 3)]
    }

    fn rest(self) -> &'a [u8] {
        self.0
    }
}

/// `classify_response` on any status, headers and body.
///
/// Layout: signal byte (mod 3), flags byte (bit 0: the body was truncated), status as a big-endian
/// `u16`, then `Content-Type`, `Content-Encoding` and `Retry-After` (each as [`Input::header`]
/// reads them), and the body is the rest.
pub fn response_decoder(data: &[u8]) {
    let mut input = Input(data);
    let signal = input.signal();
    let body_truncated = input.byte() & 1 == 1;
    let status = u16::from_be_bytes([input.byte(), input.byte()]);
    let content_type = input.header();
    let content_encoding = input.header();
    let retry_after = input.header();
    let response = HttpResponse {
        status,
        content_type: content_type.as_deref(),
        content_encoding: content_encoding.as_deref(),
        retry_after: retry_after.as_deref(),
        body: input.rest(),
        body_truncated,
    };
    let now = UNIX_EPOCH + Duration::from_secs(RESPONSE_NOW_SECS);
    match classify_response(signal, &response, now) {
        ExportOutcome::Accepted { message, .. } => {
            assert!((200..300).contains(&status), "{status} accepted");
            if let Some(message) = message {
                assert!(!message.is_empty());
                assert_log_safe(&message, "could not decode the collector's response: ".len() + 512);
            }
        }
        ExportOutcome::Retryable { retry_after: delay, reason } => {
            assert!(matches!(status, 429 | 502 | 503 | 504), "{status} retryable");
            let expected = retry_after.as_deref().and_then(|value| parse_retry_after(value, now));
            assert_eq!(delay, expected);
            assert_reason(status, &reason);
        }
        ExportOutcome::Failed { status: failed, reason } => {
            assert_eq!(failed, status);
            assert!(!(200..300).contains(&status) && !matches!(status, 429 | 502 | 503 | 504));
            assert_reason(status, &reason);
        }
    }
}

fn assert_reason(status: u16, reason: &str) {
    assert!(reason.starts_with(&format!("HTTP {status}")), "{reason:?}");
    // "HTTP 65535", the longest canonical reason phrase, ": ", and the capped detail.
    assert_log_safe(reason, 10 + 40 + 2 + 512);
}

/// The gRPC status codes a collector's answer is retried on whatever it carries (`CANCELLED`,
/// `DEADLINE_EXCEEDED`, `ABORTED`, `OUT_OF_RANGE`, `UNAVAILABLE`, `DATA_LOSS`).
const GRPC_RETRYABLE: [u32; 6] = [1, 4, 10, 11, 14, 15];

/// `RESOURCE_EXHAUSTED`: retried only when the status carries a `RetryInfo`.
const GRPC_RESOURCE_EXHAUSTED: u32 = 8;

/// The HTTP statuses a final gRPC code is reported as (`google.rpc.Code`'s mapping, less the
/// codes that are retried).
const GRPC_FINAL_AS_HTTP: [u16; 9] = [400, 401, 403, 404, 409, 429, 499, 500, 501];

/// The gRPC exporter's reading of an answer: its headers, trailers and message, any of them.
///
/// Layout: signal byte (mod 3), flags byte (bit 0: the message was truncated; bit 1: a
/// trailers-only answer, whose headers are its trailers; bit 2: a `grpc-status-details-bin`
/// trailer is made from the details below, base64 with padding when bit 3 is set), a length byte
/// and that many bytes of details (a `google.rpc.Status`, usually), then (lossy) UTF-8 text up to
/// the first zero byte: `name:value` lines, the headers up to the first empty line and the
/// trailers after it (lines that are not valid header names or values are skipped); the rest is
/// the message, its five-byte gRPC prefix included.
pub fn grpc_status(data: &[u8]) {
    let mut input = Input(data);
    let signal = input.signal();
    let flags = input.byte();
    let details_len = usize::from(input.byte());
    let rest = input.rest();
    let (details, rest) = rest.split_at(details_len.min(rest.len()));
    let text_end = rest.iter().position(|byte| *byte == 0).unwrap_or(rest.len());
    let text = String::from_utf8_lossy(&rest[..text_end]);
    let (header_lines, trailer_lines) = text.split_once("\n\n").unwrap_or((&text, ""));
    let mut trailers = header_map(trailer_lines);
    if flags & 4 == 4 {
        let engine = if flags & 8 == 8 {
            base64::engine::general_purpose::STANDARD
        } else {
            base64::engine::general_purpose::STANDARD_NO_PAD
        };
        let encoded = HeaderValue::from_str(&engine.encode(details)).expect("base64 is a valid header value");
        trailers.insert("grpc-status-details-bin", encoded);
    }
    let headers = if flags & 2 == 2 { trailers.clone() } else { header_map(header_lines) };
    let message =
        GrpcMessage { bytes: rest.get(text_end + 1..).unwrap_or_default().to_vec(), truncated: flags & 1 == 1 };
    let code = trailers.get("grpc-status").and_then(|value| value.to_str().ok()?.trim().parse::<u32>().ok());
    let has_details = trailers.contains_key("grpc-status-details-bin");
    match grpc_outcome(signal, &headers, &trailers, &message) {
        ExportOutcome::Accepted { message, .. } => {
            assert_eq!(code, Some(0), "only OK delivers");
            if let Some(message) = message {
                assert!(!message.is_empty());
                assert_log_safe(&message, "could not decode the collector's response: ".len() + 512);
            }
        }
        ExportOutcome::Retryable { retry_after, reason } => {
            let code = code.expect("an answer without a readable status is final");
            let exhausted_with_details = code == GRPC_RESOURCE_EXHAUSTED && has_details;
            assert!(GRPC_RETRYABLE.contains(&code) || exhausted_with_details, "{code} retried");
            assert!(retry_after.is_none() || has_details, "a delay only from a RetryInfo");
            assert_grpc_reason(code, &reason);
        }
        ExportOutcome::Failed { status, reason } => {
            assert!(code != Some(0) && !code.is_some_and(|code| GRPC_RETRYABLE.contains(&code)), "{code:?} final");
            assert!(GRPC_FINAL_AS_HTTP.contains(&status), "{code:?} reported as HTTP {status}");
            // No readable status is `UNKNOWN` (2), a server error.
            assert_grpc_reason(code.unwrap_or(2), &reason);
        }
    }
}

/// A header map of `name:value` lines, those that are not valid header names or values skipped.
fn header_map(lines: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for line in lines.split('\n') {
        let (name, value) = line.split_once(':').unwrap_or((line, ""));
        if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value)) {
            headers.append(name, value);
        }
    }
    headers
}

/// A gRPC failure's reason names the code, then carries the collector's message made safe.
fn assert_grpc_reason(code: u32, reason: &str) {
    assert!(reason.starts_with("gRPC ") && reason.contains(&format!("({code})")), "{reason:?}");
    // "gRPC FAILED_PRECONDITION (4294967295): " (the longest name and number), then the message.
    assert_log_safe(reason, "gRPC FAILED_PRECONDITION (4294967295): ".len() + 512);
}

/// The Prometheus endpoint's content negotiation on any `Accept` and `Accept-Encoding`, checked
/// against what the header lists, read a second way: the format answered is one some element
/// names (else the text format, the fallback), a first element naming one format without
/// parameters wins (the highest weight, first listed on a tie), and gzip is chosen only when an
/// element names it or `*`, always when one of those stands alone.
///
/// Layout: flags byte (bit 0: an `Accept` header, bit 1: an `Accept-Encoding` header), then
/// (lossy) UTF-8: the `Accept` value up to the first newline, the `Accept-Encoding` value after it.
pub fn scrape_negotiation(data: &[u8]) {
    let mut input = Input(data);
    let flags = input.byte();
    let text = String::from_utf8_lossy(input.rest());
    let (accept, encoding) = text.split_once('\n').unwrap_or((&text, ""));
    let accept = (flags & 1 == 1).then_some(accept);
    let encoding = (flags & 2 == 2).then_some(encoding);

    let ranges = list_elements(accept.unwrap_or(""));
    let names = |range: &str| ranges.iter().any(|(value, _)| value == range);
    match choose_format(accept) {
        Format::OpenMetrics => {
            assert!(names("application/openmetrics-text") || names("application/*") || names("*/*"), "{accept:?}");
        }
        Format::Text => {}
    }
    let serves_any = ["application/openmetrics-text", "application/*", "text/plain", "text/*", "*/*"];
    if !serves_any.iter().any(|range| names(range)) {
        assert_eq!(choose_format(accept), Format::Text, "the fallback for {accept:?}");
    }
    match ranges.first() {
        Some((first, false)) if first == "application/openmetrics-text" => {
            assert_eq!(choose_format(accept), Format::OpenMetrics, "{accept:?}");
        }
        Some((first, false)) if first == "text/plain" => assert_eq!(choose_format(accept), Format::Text, "{accept:?}"),
        _ => {}
    }

    let codings = list_elements(encoding.unwrap_or(""));
    let gzip = accepts_gzip(encoding);
    if gzip {
        assert!(codings.iter().any(|(coding, _)| coding == "gzip" || coding == "*"), "{encoding:?}");
    }
    // The first gzip named decides, else the first `*` (RFC 9110: `*` is the codings not named).
    let decides = codings
        .iter()
        .find(|(coding, _)| coding == "gzip")
        .or_else(|| codings.iter().find(|(coding, _)| coding == "*"));
    if decides.is_some_and(|(_, with_params)| !with_params) {
        assert!(gzip, "gzip (or *, gzip not named) without a weight in {encoding:?}");
    }
}

/// The elements of a comma-separated header list: each one's value before any `;`, trimmed and
/// lowercased, and whether parameters follow it.
fn list_elements(header: &str) -> Vec<(String, bool)> {
    header
        .split(',')
        .map(|element| {
            let (value, params) = element.split_once(';').map_or((element, false), |(value, _)| (value, true));
            (value.trim().to_ascii_lowercase(), params)
        })
        .filter(|(value, _)| !value.is_empty())
        .collect()
}

/// How many entries a line about skipped entries names: its first, and those listed after it as
/// skipped for the same reason (`… (as is entry 5)`, `… (as are entries 5, 7)`); or, on the line
/// that ends a list with more distinct reasons than are listed, the count it gives.
fn entries_named(line: &str) -> usize {
    // The last line of a list with more distinct reasons than are listed counts the rest.
    if let Some(count) = line.strip_suffix(" more entries skipped for other reasons (not listed)") {
        return count.parse().expect("a count");
    }
    let others = |prefix: &str| {
        let list = line.strip_suffix(')')?.rsplit_once(prefix)?.1;
        list.split(", ").all(|n| n.parse::<usize>().is_ok()).then(|| list.split(", ").count())
    };
    1 + others(" (as is entry ").or_else(|| others(" (as are entries ")).unwrap_or(0)
}

/// Collector text must be bounded and escaped before it reaches a log line.
fn assert_log_safe(text: &str, max_chars: usize) {
    assert!(text.chars().count() <= max_chars, "{} chars: {text:?}", text.chars().count());
    assert!(!text.chars().any(char::is_control), "unescaped control character in {text:?}");
}

/// `environment_problems`: everything a `nanotel::init()` reads from the environment, read from
/// an environment the input makes, with nothing built.
///
/// Layout: values separated by NUL bytes (each lossy UTF-8). A variable's value is the one at
/// its name's hash modulo their count (none when that value is empty), so one value sets every
/// variable nanotel reads at once, and each new variable is covered without a list to keep.
/// Checks: problems in the environment are never errors, and each is one line that names the
/// variable it is about.
pub fn environment(data: &[u8]) {
    let values: Vec<String> =
        data.split(|&byte| byte == 0).map(|value| String::from_utf8_lossy(value).into()).collect();
    let lookup = |name: &str| {
        let hash = name
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(0x100_0000_01b3));
        let value = &values[(hash % values.len() as u64) as usize];
        (!value.is_empty()).then(|| value.clone())
    };
    let problems =
        environment_problems(&lookup).unwrap_or_else(|error| panic!("an environment made an error: {error}"));
    for problem in &problems {
        assert!(!problem.chars().any(char::is_control), "not one line: {problem:?}");
        assert!(problem.contains("OTEL_") || problem.contains("PROXY"), "names no variable: {problem:?}");
    }
}

/// `parse_headers` on the input read as (lossy) UTF-8, as an environment variable's value.
pub fn headers_env(data: &[u8]) {
    let value = String::from_utf8_lossy(data);
    let parsed = parse_headers(&value);
    let entries = value.split(',').filter(|entry| !entry.trim_matches([' ', '\t']).is_empty()).count();
    let reported: usize = parsed.errors.iter().map(|error| entries_named(error)).sum();
    assert_eq!(parsed.headers.len() + reported, entries, "every entry is used or reported");
    for (key, value) in &parsed.headers {
        assert!(!key.is_empty());
        assert_eq!(*key, key.to_ascii_lowercase());
        // What the exporter will do with them must succeed.
        assert!(reqwest::header::HeaderName::from_bytes(key.as_bytes()).is_ok(), "{key:?}");
        assert!(reqwest::header::HeaderValue::from_str(value).is_ok(), "{value:?}");
    }
    for error in &parsed.errors {
        assert!(error.len() < 1024, "{error:?}");
    }
}

/// `signal_url` on up to two values.
///
/// Layout: signal byte (mod 3), flags byte (bit 0: pass a base endpoint, bit 1: pass a
/// signal-specific one), then the rest as (lossy) UTF-8: the base up to the first newline, the
/// signal-specific endpoint after it.
pub fn endpoint(data: &[u8]) {
    let mut input = Input(data);
    let signal = input.signal();
    let flags = input.byte();
    let text = String::from_utf8_lossy(input.rest());
    let (first, second) = text.split_once('\n').unwrap_or((&text, ""));
    let base = (flags & 1 == 1).then_some(first);
    let specific = (flags & 2 == 2).then_some(second);
    match signal_url(signal, base, specific) {
        Ok(url) => {
            assert!(matches!(url.scheme(), "http" | "https"), "{url}");
            assert!(url.host_str().is_some_and(|host| !host.is_empty()), "{url}");
            let specific_used = specific.is_some_and(|value| !value.trim().is_empty());
            if !specific_used {
                assert!(url.path().ends_with(&format!("/{}", signal.path())), "{url}");
            }
        }
        Err(error) => {
            assert!(!error.reason().is_empty());
            assert!(error.to_string().contains(error.variable()));
        }
    }
}

/// `parse_retry_after` at any "now" from about 34,000 years before to 34,000 years after 1970.
///
/// Layout: flags byte (bit 0: now is before 1970), seconds from 1970 as a big-endian `u64` (its
/// top 24 bits ignored), then the rest as (lossy) UTF-8 is the header value.
pub fn retry_after(data: &[u8]) {
    let mut input = Input(data);
    let before_1970 = input.byte() & 1 == 1;
    let offset = Duration::from_secs(input.u64() >> 24);
    let now = if before_1970 { UNIX_EPOCH.checked_sub(offset) } else { UNIX_EPOCH.checked_add(offset) };
    let now: SystemTime = now.unwrap_or(UNIX_EPOCH);
    let value = String::from_utf8_lossy(input.rest());
    let delay = parse_retry_after(&value, now);
    let trimmed = value.trim_matches([' ', '\t']);
    if !trimmed.is_empty() && trimmed.bytes().all(|byte| byte.is_ascii_digit()) {
        let seconds = trimmed.parse::<u64>().unwrap_or(u64::MAX);
        assert_eq!(delay, Some(Duration::from_secs(seconds)));
    } else if trimmed.starts_with(['-', '+']) {
        assert_eq!(delay, None, "signed numbers are not delays");
    }
}

/// Without HTTP's optional whitespace (spaces and tabs) at either end.
fn trim_ows(text: &str) -> &str {
    text.trim_matches([' ', '\t'])
}

/// `traceparent::parse` on the input read as (lossy) UTF-8, checked against the grammar stated a
/// second way: `-`-separated fields of 2, 32, 16 and 2 lowercase hex digits, nothing more for
/// version `00`, more fields allowed for later versions, never `ff`, no all-zero id.
pub fn traceparent(data: &[u8]) {
    let value = String::from_utf8_lossy(data);
    let parsed = traceparent::parse(&value);
    let trimmed = trim_ows(&value);
    let fields: Vec<&str> = trimmed.split('-').collect();
    let lower_hex = |field: &str, len: usize| {
        field.len() == len && field.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    let nonzero = |field: &str| field.bytes().any(|b| b != b'0');
    let expected_valid = fields.len() >= 4
        && lower_hex(fields[0], 2)
        && lower_hex(fields[1], 32)
        && lower_hex(fields[2], 16)
        && lower_hex(fields[3], 2)
        && fields[0] != "ff"
        && (fields[0] != "00" || fields.len() == 4)
        && nonzero(fields[1])
        && nonzero(fields[2]);
    match parsed {
        Ok(context) => {
            assert!(expected_valid, "accepted {value:?}");
            assert!(context.is_valid() && context.is_remote() && context.trace_state().is_empty());
            assert_eq!(context.trace_flags().bits() & !0x03, 0, "unknown flags are cleared");
            let mut written = String::new();
            traceparent::write(&context, &mut written);
            assert_eq!(&written[3..53], &trimmed[3..53], "ids are sent as received");
            assert_eq!(traceparent::parse(&written), Ok(context));
        }
        Err(error) => {
            assert!(!expected_valid, "rejected {value:?}: {error}");
            assert!(!error.to_string().is_empty());
        }
    }
}

/// `TraceState::parse` on the input read as (lossy) UTF-8; a parsed state must re-parse from its
/// own header, hold every non-blank member, and accept each of its entries back through `insert`.
/// The first member is also tried as an `insert` into a small fixed state.
pub fn tracestate(data: &[u8]) {
    let header = String::from_utf8_lossy(data);
    let members = header.split(',').filter(|member| !trim_ows(member).is_empty()).count();
    match TraceState::parse(&header) {
        Ok(state) => {
            assert_eq!(state.len(), members);
            assert!(state.len() <= TraceState::MAX_MEMBERS);
            assert_eq!(TraceState::parse(&state.to_header()).as_ref(), Ok(&state));
            for (key, value) in state.iter() {
                assert_eq!(state.get(key), Some(value));
                let moved = state.insert(key, value).expect("a parsed entry is valid");
                assert_eq!(moved.iter().next(), Some((key, value)));
                assert_eq!(moved.len(), state.len());
                assert_eq!(moved.remove(key).len(), state.len() - 1);
            }
        }
        Err(error) => assert!(!error.to_string().is_empty()),
    }
    let first = header.split(',').next().unwrap_or_default();
    let (key, value) = first.split_once('=').unwrap_or((first, ""));
    let base = TraceState::parse("a=1,b=2").expect("a valid header");
    if let Ok(updated) = base.insert(key, value) {
        assert_eq!(updated.iter().next(), Some((key, value)));
        assert_eq!(updated.get(key), Some(value));
        assert_eq!(TraceState::parse(&updated.to_header()), Ok(updated));
    }
}

/// `Baggage::parse` on the input read as (lossy) UTF-8; the result must respect the limits,
/// re-parse from its own header, and accept each of its entries back through `insert`.
pub fn baggage(data: &[u8]) {
    let header = String::from_utf8_lossy(data);
    let baggage = Baggage::parse(&header);
    assert!(baggage.len() <= Baggage::MAX_ENTRIES);
    let written = baggage.to_header();
    assert!(written.len() <= Baggage::MAX_HEADER_BYTES);
    assert_eq!(Baggage::parse(&written), baggage, "{written:?}");
    let mut rebuilt = Baggage::new();
    for entry in baggage.iter() {
        assert_eq!(baggage.get(entry.name()), Some(entry.value()));
        rebuilt.insert_with_metadata(entry.name(), entry.value(), entry.metadata()).expect("a parsed entry fits");
    }
    assert_eq!(rebuilt, baggage);
}

/// Both propagators on a header map built from the input: `name:value` lines (lossy UTF-8), those
/// that are not valid header names or values skipped. Whatever is extracted must survive
/// injection into a fresh header map and a `HashMap`, and extracting again.
pub fn propagation_extract(data: &[u8]) {
    let headers = header_map(&String::from_utf8_lossy(data));
    let context = TraceContextPropagator.extract(&headers);
    let baggage = BaggagePropagator.extract(&headers);
    if let Some(context) = &context {
        assert!(context.is_valid() && context.is_remote());
    }
    if headers.get_all("traceparent").iter().count() != 1 {
        assert_eq!(context, None, "no traceparent, or more than one");
    }

    let mut map = HashMap::new();
    let mut again = HeaderMap::new();
    if let Some(context) = &context {
        TraceContextPropagator.inject(context, &mut map);
        TraceContextPropagator.inject(context, &mut again);
    }
    BaggagePropagator.inject(&baggage, &mut map);
    BaggagePropagator.inject(&baggage, &mut again);
    for carrier in [&map as &dyn nanotel::propagation::Extractor, &again] {
        assert_eq!(TraceContextPropagator.extract(carrier), context);
        assert_eq!(BaggagePropagator.extract(carrier), baggage);
    }
}

/// Both B3 encodings: the input read as (lossy) UTF-8 is parsed as one `b3` value, checked
/// against the grammar stated a second way (`-`-separated lowercase hex: a 16- or 32-digit trace
/// id and a 16-digit span id, neither all zeros, then optionally `0`, `1` or `d`, then optionally
/// a 16-digit parent span id); then read as `name:value` header lines (as `propagation_extract`
/// does), whatever [`B3Propagator`] extracts must survive injection in either encoding.
pub fn b3(data: &[u8]) {
    let value = String::from_utf8_lossy(data);
    let fields: Vec<&str> = trim_ows(&value).split('-').collect();
    let lower_hex = |field: &str, lens: &[usize]| {
        lens.contains(&field.len()) && field.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    let nonzero = |field: &str| field.bytes().any(|b| b != b'0');
    let is_state = |field: &str| matches!(field, "0" | "1" | "d");
    let tail_valid = match fields.get(2..).unwrap_or_default() {
        [] => true,
        [one] => is_state(one) || lower_hex(one, &[16]),
        [state, parent] => is_state(state) && lower_hex(parent, &[16]),
        _ => false,
    };
    let expected_valid = fields.len() >= 2
        && lower_hex(fields[0], &[16, 32])
        && nonzero(fields[0])
        && lower_hex(fields[1], &[16])
        && nonzero(fields[1])
        && tail_valid;
    match b3::parse(&value) {
        Ok(context) => {
            assert!(expected_valid, "accepted {value:?}");
            assert!(context.is_valid() && context.is_remote() && context.trace_state().is_empty());
            assert!(context.trace_id().to_string().ends_with(fields[0]), "ids are kept as received");
            assert_eq!(context.span_id().to_string(), fields[1]);
            assert_eq!(context.is_sampled(), matches!(fields.get(2), Some(&"1" | &"d")));
        }
        Err(error) => {
            assert!(!expected_valid, "rejected {value:?}: {error}");
            assert!(!error.to_string().is_empty());
        }
    }

    let headers = header_map(&value);
    let context = B3Propagator::default().extract(&headers);
    let singles: Vec<_> = headers.get_all("b3").iter().collect();
    if let [single] = singles[..] {
        if let Ok(parsed) = single.to_str().map_err(|_| ()).and_then(|text| b3::parse(text).map_err(|_| ())) {
            assert_eq!(context.as_ref(), Some(&parsed), "a usable single header wins");
        }
    }
    let Some(context) = context else { return };
    assert!(context.is_valid() && context.is_remote());
    for propagator in [B3Propagator::single(), B3Propagator::multi()] {
        let mut map = HashMap::new();
        let mut again = HeaderMap::new();
        propagator.inject(&context, &mut map);
        propagator.inject(&context, &mut again);
        assert_eq!(B3Propagator::default().extract(&map).as_ref(), Some(&context));
        assert_eq!(B3Propagator::default().extract(&again).as_ref(), Some(&context));
    }
}

/// `parse_resource_attributes` on the input read as (lossy) UTF-8, as an `OTEL_RESOURCE_ATTRIBUTES`
/// value. Every non-blank entry must be used or reported; the attributes must come back unchanged
/// from their own re-encoding (blanks added around keys and values), and a later entry for a key
/// must replace only that key's value.
pub fn resource_attributes(data: &[u8]) {
    let value = String::from_utf8_lossy(data);
    let parsed = parse_resource_attributes(&value);
    let entries = value.split(',').filter(|entry| !trim_ows(entry).is_empty()).count();
    let reported: usize = parsed.problems.iter().map(|problem| entries_named(problem)).sum();
    let accepted = entries.checked_sub(reported).expect("no more entries reported than there are");
    assert!(parsed.attributes.len() <= accepted);
    assert_eq!(parsed.attributes.is_empty(), accepted == 0, "an accepted entry gives an attribute");
    for (index, (key, _)) in parsed.attributes.iter().enumerate() {
        assert!(!key.is_empty());
        assert!(parsed.attributes[..index].iter().all(|(earlier, _)| earlier != key), "{key:?} twice");
    }
    for problem in &parsed.problems {
        let unlisted = problem.ends_with(" more entries skipped for other reasons (not listed)");
        assert!(unlisted || problem.starts_with("entry ") && problem.contains(" is skipped: "), "{problem:?}");
        assert_log_safe(problem, 1024);
    }

    let encoded: Vec<String> = parsed
        .attributes
        .iter()
        .map(|(key, value)| format!(" {} =\t{} ", percent_encode(key), percent_encode(value)))
        .collect();
    let reparsed = parse_resource_attributes(&encoded.join(","));
    assert_eq!(reparsed.attributes, parsed.attributes);
    assert!(reparsed.problems.is_empty(), "{:?}", reparsed.problems);

    if let Some((key, _)) = parsed.attributes.first() {
        let updated = parse_resource_attributes(&format!("{value},{}=later", percent_encode(key)));
        let mut expected = parsed.attributes.clone();
        expected[0].1 = String::from("later");
        assert_eq!(updated.attributes, expected);
        assert_eq!(updated.problems, parsed.problems);
    }
}

/// Percent-encodes every byte but ASCII letters, digits and `-._~`.
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => char::from(byte).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// A container id for the properties below to plant in the input.
const PLANTED_ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn is_container_id(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f'))
}

/// `container_id_from_cgroup` on the input read as (lossy) UTF-8, as a `/proc/self/cgroup` file.
/// An id found must be a full lowercase hex id closing some line's path (after `/`, `:` or `-`,
/// before nothing or one `.suffix`); a line naming an id after the input finds the input's own id
/// if it has one (the first line wins) and the planted one otherwise; and any text put before the
/// last path segment of a line does not hide the id in that segment.
pub fn cgroup(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let found = container_id_from_cgroup(&text);
    if let Some(id) = &found {
        assert!(is_container_id(id), "{id:?}");
        let closes_a_path = text.lines().any(|line| {
            let line = line.trim_end();
            line.match_indices(id.as_str()).any(|(at, _)| {
                let before = line[..at].chars().next_back();
                let after = &line[at + id.len()..];
                let suffix_ok = after.is_empty()
                    || after.strip_prefix('.').is_some_and(|suffix| !suffix.contains(['.', '/', ':', '-']));
                matches!(before, Some('/' | ':' | '-')) && suffix_ok && line[..at].matches(':').count() >= 2
            })
        });
        assert!(closes_a_path, "{id} in {text:?}");
    }
    let appended = container_id_from_cgroup(&format!("{text}\n0::/docker/{PLANTED_ID}\n"));
    assert_eq!(appended.as_deref(), Some(found.as_deref().unwrap_or(PLANTED_ID)));
    let one_line: String = text.chars().filter(|&c| c != '\n').collect();
    let planted = container_id_from_cgroup(&format!("1:cpu:{one_line}/{PLANTED_ID}"));
    assert_eq!(planted.as_deref(), Some(PLANTED_ID));
}

/// `container_id_from_mountinfo` on the input read as (lossy) UTF-8, as a `/proc/self/mountinfo`
/// file. An id found must be a whole run of 64 lowercase hex digits in the input, never a slice
/// of a longer one; a runtime's cgroup mount put first names the container whatever follows; a
/// Docker `hostname` mount put last is found unless the input already named a container.
pub fn mountinfo(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let found = container_id_from_mountinfo(&text);
    if let Some(id) = &found {
        assert!(is_container_id(id), "{id:?}");
        let is_hex = |c: Option<char>| c.is_some_and(|c| c.is_ascii_digit() || ('a'..='f').contains(&c));
        let whole_run = text
            .match_indices(id.as_str())
            .any(|(at, _)| !is_hex(text[..at].chars().next_back()) && !is_hex(text[at + id.len()..].chars().next()));
        assert!(whole_run, "{id} is only ever part of a longer hex run in {text:?}");
    }
    let cgroup_mount =
        format!("30 20 0:26 /kubepods.slice/crio-{PLANTED_ID}.scope /sys/fs/cgroup ro - cgroup2 cgroup2 rw\n");
    assert_eq!(container_id_from_mountinfo(&format!("{cgroup_mount}{text}")).as_deref(), Some(PLANTED_ID));
    let docker_mount =
        format!("\n40 20 8:1 /var/lib/docker/containers/{PLANTED_ID}/hostname /etc/hostname rw - ext4 /dev/sda1 rw\n");
    let appended = container_id_from_mountinfo(&format!("{text}{docker_mount}"));
    match &found {
        None => assert_eq!(appended.as_deref(), Some(PLANTED_ID)),
        Some(id) => assert!(appended.as_deref() == Some(id.as_str()) || appended.as_deref() == Some(PLANTED_ID)),
    }
}
