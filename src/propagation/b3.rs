//! Zipkin's B3 propagation: one `b3` header, or the multiple `X-B3-*` headers.
//!
//! Single header: `b3: {TraceId}-{SpanId}[-{SamplingState}][-{ParentSpanId}]`, where the trace id
//! is 32 or 16 lowercase hex digits (a 16-digit id is padded with zeros on the left to 128 bits),
//! the span and parent span ids 16, and the sampling state `1` (accept), `0` (deny) or `d` (debug,
//! which implies accept). Absent, the decision is deferred: the span context is not sampled.
//!
//! Multiple headers: `X-B3-TraceId`, `X-B3-SpanId`, optionally `X-B3-Sampled` (`1` or `0`; the
//! older `true` and `false` are accepted too) and `X-B3-Flags` (`1` is debug, which implies accept;
//! any other value is ignored); `X-B3-ParentSpanId` is ignored.
//!
//! As OpenTelemetry's B3 propagator does: extraction tries the single header first, then the
//! multiple headers; injection writes one of the two encodings (single by default) and never the
//! parent span id. Bad input extracts as `None` (a new trace starts); parsing never allocates.
//!
//! Debug is kept: an extracted context says so ([`TraceFlags::is_b3_debug`]), spans started under
//! it inherit it with their flags, and injection sends it on (`d` as the sampling state, or
//! `X-B3-Flags: 1` without `X-B3-Sampled`, which debug implies).

use std::fmt;

use crate::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};

use super::traceparent::{lower_hex, write_hex};
use super::{trim_ows, Extractor, Injector};

/// Why a B3 value was not usable. Whatever the reason, the headers are ignored and the receiver
/// starts a new trace.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum B3Error {
    /// The single header is not `traceid-spanid[-sampling][-parentspanid]`.
    Malformed,
    /// The single header carries only a sampling state (`0`, `1` or `d`): there is no parent.
    SamplingOnly,
    /// The trace id is not 16 or 32 lowercase hex digits, or is all zeros.
    InvalidTraceId,
    /// The span id is not 16 lowercase hex digits, or is all zeros.
    InvalidSpanId,
    /// The sampling state is not one of those B3 defines.
    InvalidSampling,
    /// The parent span id is not 16 lowercase hex digits.
    InvalidParentSpanId,
    /// A header the context needs is missing, or was sent more than once.
    MissingOrRepeated,
}

impl fmt::Display for B3Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            B3Error::Malformed => "b3 is not `traceid-spanid[-sampling][-parentspanid]`",
            B3Error::SamplingOnly => "b3 holds only a sampling state, no ids",
            B3Error::InvalidTraceId => "B3 trace id is not 16 or 32 lowercase hex digits, not all zero",
            B3Error::InvalidSpanId => "B3 span id is not 16 lowercase hex digits, not all zero",
            B3Error::InvalidSampling => "B3 sampling state is not 1, 0 or d (X-B3-Sampled: 1, 0, true or false)",
            B3Error::InvalidParentSpanId => "B3 parent span id is not 16 lowercase hex digits",
            B3Error::MissingOrRepeated => "a B3 header is missing or sent more than once",
        })
    }
}

impl std::error::Error for B3Error {}

/// Which B3 encoding [`B3Propagator::inject`] writes (extraction reads both).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum B3Encoding {
    /// The single `b3` header (`b3` in `OTEL_PROPAGATORS`; the default).
    #[default]
    Single,
    /// The `X-B3-TraceId`, `X-B3-SpanId` and `X-B3-Sampled` headers (`b3multi`).
    Multi,
}

/// Carries a [`SpanContext`] across processes in B3 headers, for services that speak Zipkin's
/// format rather than W3C Trace Context.
///
/// ```
/// use http::HeaderMap;
/// use nanotel::propagation::b3::B3Propagator;
///
/// let mut incoming = HeaderMap::new();
/// incoming.insert("b3", "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1-05e3ac9a4f6e3b90".parse().unwrap());
/// let parent = B3Propagator::single().extract(&incoming).expect("a valid b3 header");
/// assert!(parent.is_sampled() && parent.is_remote());
///
/// let mut outgoing = HeaderMap::new();
/// B3Propagator::multi().inject(&parent, &mut outgoing);
/// assert_eq!(outgoing["x-b3-traceid"], "80f198ee56343ba864fe8b2a57d3eff7");
/// assert_eq!(outgoing["x-b3-spanid"], "e457b5a2e4d86bd1");
/// assert_eq!(outgoing["x-b3-sampled"], "1");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct B3Propagator {
    encoding: B3Encoding,
}

impl B3Propagator {
    /// The single header's name.
    pub const B3: &'static str = "b3";
    /// `X-B3-TraceId`, as it is written (lowercase; read ignoring case).
    pub const TRACE_ID: &'static str = "x-b3-traceid";
    /// `X-B3-SpanId`.
    pub const SPAN_ID: &'static str = "x-b3-spanid";
    /// `X-B3-ParentSpanId`: ignored when received (OpenTelemetry has no use for it), never sent.
    pub const PARENT_SPAN_ID: &'static str = "x-b3-parentspanid";
    /// `X-B3-Sampled`.
    pub const SAMPLED: &'static str = "x-b3-sampled";
    /// `X-B3-Flags`: `1` is debug.
    pub const FLAGS: &'static str = "x-b3-flags";

    /// A propagator that injects the single `b3` header.
    #[must_use]
    pub const fn single() -> Self {
        B3Propagator { encoding: B3Encoding::Single }
    }

    /// A propagator that injects the multiple `X-B3-*` headers.
    #[must_use]
    pub const fn multi() -> Self {
        B3Propagator { encoding: B3Encoding::Multi }
    }

    /// The encoding [`inject`](Self::inject) writes.
    #[must_use]
    pub fn encoding(&self) -> B3Encoding {
        self.encoding
    }

    /// Writes the context in this propagator's encoding: `b3: {traceid}-{spanid}-{1|0|d}`, or
    /// `X-B3-TraceId`, `X-B3-SpanId` and `X-B3-Sampled` (`X-B3-Flags: 1` instead for debug),
    /// removing any `X-B3-ParentSpanId`, `X-B3-Flags` or `X-B3-Sampled` the carrier holds that
    /// would not describe this context. An invalid context writes nothing and leaves the carrier
    /// as it is, as the OpenTelemetry SDKs do: a carrier reused across requests is its owner's to
    /// clear before a request sent without a span. Values are formatted on the stack.
    pub fn inject<I: Injector + ?Sized>(&self, context: &SpanContext, carrier: &mut I) {
        if !context.is_valid() {
            return;
        }
        let mut trace_id = [0u8; 32];
        write_hex(&context.trace_id().to_bytes(), &mut trace_id);
        let mut span_id = [0u8; 16];
        write_hex(&context.span_id().to_bytes(), &mut span_id);
        let debug = context.trace_flags().is_b3_debug();
        let sampled = if context.is_sampled() { b'1' } else { b'0' };
        match self.encoding {
            B3Encoding::Single => {
                let mut value = [b'-'; 51];
                value[..32].copy_from_slice(&trace_id);
                value[33..49].copy_from_slice(&span_id);
                value[50] = if debug { b'd' } else { sampled };
                carrier.set(Self::B3, ascii(&value));
            }
            B3Encoding::Multi => {
                carrier.set(Self::TRACE_ID, ascii(&trace_id));
                carrier.set(Self::SPAN_ID, ascii(&span_id));
                if debug {
                    carrier.set(Self::FLAGS, "1");
                    carrier.remove(Self::SAMPLED);
                } else {
                    carrier.set(Self::SAMPLED, ascii(&[sampled]));
                    carrier.remove(Self::FLAGS);
                }
                carrier.remove(Self::PARENT_SPAN_ID);
            }
        }
    }

    /// Reads the remote span context: from a usable `b3` header if there is one (sent once),
    /// otherwise from the `X-B3-*` headers (trace and span ids required; each of those and
    /// `X-B3-Sampled` sent at most once);
    /// `None` when neither is usable. The trace state is empty: B3 has none.
    pub fn extract<E: Extractor + ?Sized>(&self, carrier: &E) -> Option<SpanContext> {
        single_value(carrier, Self::B3, |value| parse_bytes(value).ok()).flatten().or_else(|| extract_multi(carrier))
    }
}

/// `value` as text: the propagator only ever formats ASCII into it.
fn ascii(value: &[u8]) -> &str {
    std::str::from_utf8(value).unwrap_or_default()
}

/// `read` applied to the only value of header `name`: `None` when absent or sent more than once
/// (two values cannot both describe the parent).
fn single_value<E: Extractor + ?Sized, T>(carrier: &E, name: &str, read: impl Fn(&[u8]) -> T) -> Option<T> {
    let mut lines = 0usize;
    let mut result = None;
    carrier.for_each_value(name, &mut |value| {
        lines += 1;
        if lines == 1 {
            result = Some(read(value));
        }
    });
    result.filter(|_| lines == 1)
}

/// Whether header `name` is present at all (any number of times).
fn present<E: Extractor + ?Sized>(carrier: &E, name: &str) -> bool {
    let mut seen = false;
    carrier.for_each_value(name, &mut |_| seen = true);
    seen
}

fn extract_multi<E: Extractor + ?Sized>(carrier: &E) -> Option<SpanContext> {
    let trace_id = single_value(carrier, B3Propagator::TRACE_ID, |v| parse_trace_id(trim_ows(v)))?.ok()?;
    let span_id = single_value(carrier, B3Propagator::SPAN_ID, |v| parse_span_id(trim_ows(v)))?.ok()?;
    let sampled = match single_value(carrier, B3Propagator::SAMPLED, parse_sampled) {
        Some(sampled) => sampled.ok()?,
        None if present(carrier, B3Propagator::SAMPLED) => return None,
        None => false,
    };
    let debug = single_value(carrier, B3Propagator::FLAGS, |value| trim_ows(value) == b"1").unwrap_or(false);
    Some(remote(trace_id, span_id, sampled || debug, debug))
}

/// A remote context; `debug` implies `sampled`.
fn remote(trace_id: TraceId, span_id: SpanId, sampled: bool, debug: bool) -> SpanContext {
    let flags = TraceFlags::NOT_SAMPLED.with_sampled(sampled || debug).with_b3_debug(debug);
    SpanContext::new(trace_id, span_id, flags, true, TraceState::default())
}

/// Parses a single `b3` header value into a remote span context (empty trace state).
///
/// Spaces and tabs around the value are ignored; hex must be lowercase; a 16-digit trace id is
/// padded to 128 bits; the parent span id is checked but not kept (OpenTelemetry has no use for
/// it). A debug (`d`) sampling state reads as sampled.
///
/// ```
/// use nanotel::propagation::b3::{self, B3Error};
///
/// let context = b3::parse("a3ce929d0e0e4736-00f067aa0ba902b7-d").unwrap();
/// assert_eq!(context.trace_id().to_string(), "0000000000000000a3ce929d0e0e4736");
/// assert!(context.is_sampled());
/// assert_eq!(b3::parse("0"), Err(B3Error::SamplingOnly));
/// ```
///
/// # Errors
///
/// A [`B3Error`] when `value` is not a valid B3 single header, or carries only a sampling decision.
pub fn parse(value: &str) -> Result<SpanContext, B3Error> {
    parse_bytes(value.as_bytes())
}

/// [`parse`] on raw header bytes (anything not ASCII is simply invalid).
pub(crate) fn parse_bytes(value: &[u8]) -> Result<SpanContext, B3Error> {
    let value = trim_ows(value);
    if matches!(value, b"0" | b"1" | b"d") {
        return Err(B3Error::SamplingOnly);
    }
    let mut fields = value.split(|b| *b == b'-');
    let trace_id = parse_trace_id(fields.next().ok_or(B3Error::Malformed)?)?;
    let span_id = parse_span_id(fields.next().ok_or(B3Error::Malformed)?)?;
    let (mut sampled, mut debug) = (false, false);
    let mut third = fields.next();
    // The sampling state is one character; a 16-digit third field is the parent span id.
    if let Some(state) = third.filter(|field| field.len() != 16) {
        (sampled, debug) = match state {
            b"1" => (true, false),
            b"d" => (true, true),
            b"0" => (false, false),
            _ => return Err(B3Error::InvalidSampling),
        };
        third = fields.next();
    }
    if let Some(parent) = third {
        parse_parent_span_id(parent)?;
    }
    if fields.next().is_some() {
        return Err(B3Error::Malformed);
    }
    Ok(remote(trace_id, span_id, sampled, debug))
}

/// 32 or 16 lowercase hex digits, not all zero; 16 are the low half of a 128-bit id.
fn parse_trace_id(field: &[u8]) -> Result<TraceId, B3Error> {
    let mut bytes = [0u8; 16];
    let out = match field.len() {
        32 => &mut bytes[..],
        16 => &mut bytes[8..],
        _ => return Err(B3Error::InvalidTraceId),
    };
    lower_hex(field, out).ok_or(B3Error::InvalidTraceId)?;
    Some(TraceId::from_bytes(bytes)).filter(TraceId::is_valid).ok_or(B3Error::InvalidTraceId)
}

fn parse_span_id(field: &[u8]) -> Result<SpanId, B3Error> {
    let id = parse_id(field).ok_or(B3Error::InvalidSpanId)?;
    Some(id).filter(SpanId::is_valid).ok_or(B3Error::InvalidSpanId)
}

fn parse_parent_span_id(field: &[u8]) -> Result<SpanId, B3Error> {
    parse_id(field).ok_or(B3Error::InvalidParentSpanId)
}

fn parse_id(field: &[u8]) -> Option<SpanId> {
    let mut bytes = [0u8; 8];
    if field.len() != 16 {
        return None;
    }
    lower_hex(field, &mut bytes)?;
    Some(SpanId::from_bytes(bytes))
}

/// `X-B3-Sampled`: `1` or `0`, or (from older tracers) `true` or `false` in any case.
fn parse_sampled(value: &[u8]) -> Result<bool, B3Error> {
    let value = trim_ows(value);
    if value == b"1" || value.eq_ignore_ascii_case(b"true") {
        Ok(true)
    } else if value == b"0" || value.eq_ignore_ascii_case(b"false") {
        Ok(false)
    } else {
        Err(B3Error::InvalidSampling)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    const TRACE: &str = "80f198ee56343ba864fe8b2a57d3eff7";
    const SPAN: &str = "e457b5a2e4d86bd1";
    const PARENT: &str = "05e3ac9a4f6e3b90";

    fn headers(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn the_specifications_single_header_examples() {
        let full = parse(&format!("{TRACE}-{SPAN}-1-{PARENT}")).unwrap();
        assert_eq!(full.trace_id().to_string(), TRACE);
        assert_eq!(full.span_id().to_string(), SPAN);
        assert!(full.is_sampled() && full.is_remote() && full.trace_state().is_empty());
        assert!(parse(&format!("{TRACE}-{SPAN}-d")).unwrap().is_sampled());
        assert!(!parse(&format!("{TRACE}-{SPAN}-0")).unwrap().is_sampled());
        // Deferred: no sampling state.
        assert!(!parse(&format!("{TRACE}-{SPAN}")).unwrap().is_sampled());
        assert!(!parse(&format!("{TRACE}-{SPAN}-{PARENT}")).unwrap().is_sampled());
        let short = parse(&format!("a3ce929d0e0e4736-{SPAN}-1")).unwrap();
        assert_eq!(short.trace_id().to_string(), "0000000000000000a3ce929d0e0e4736");
        for only in ["0", "1", "d", " d "] {
            assert_eq!(parse(only), Err(B3Error::SamplingOnly));
        }
    }

    #[test]
    fn bad_single_headers_name_their_field() {
        let cases = [
            ("", B3Error::InvalidTraceId),
            (TRACE, B3Error::Malformed),
            (&format!("{}-{SPAN}", TRACE.to_uppercase()), B3Error::InvalidTraceId),
            (&format!("{}-{SPAN}", "0".repeat(32)), B3Error::InvalidTraceId),
            (&format!("{}-{SPAN}", &TRACE[..20]), B3Error::InvalidTraceId),
            (&format!("{TRACE}-{}", "0".repeat(16)), B3Error::InvalidSpanId),
            (&format!("{TRACE}-{SPAN}-2"), B3Error::InvalidSampling),
            (&format!("{TRACE}-{SPAN}-true"), B3Error::InvalidSampling),
            (&format!("{TRACE}-{SPAN}-1-xyz"), B3Error::InvalidParentSpanId),
            (&format!("{TRACE}-{SPAN}-1-{PARENT}-1"), B3Error::Malformed),
            (&format!("{TRACE}-{SPAN}-{PARENT}-1"), B3Error::Malformed),
            (&format!("{TRACE}--1"), B3Error::InvalidSpanId),
        ];
        for (value, error) in cases {
            assert_eq!(parse(value), Err(error), "{value:?}");
            assert!(!error.to_string().is_empty());
        }
        assert!(parse_bytes("é".repeat(40).as_bytes()).is_err());
    }

    #[test]
    fn multiple_headers_with_every_sampling_spelling() {
        let extract = |pairs: &[(&str, &str)]| B3Propagator::default().extract(&headers(pairs));
        let ids = [("X-B3-TraceId", TRACE), ("X-B3-SpanId", SPAN)];
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut all = ids.to_vec();
            all.extend_from_slice(extra);
            extract(&all)
        };
        assert!(!with(&[]).unwrap().is_sampled());
        for (value, sampled) in [("1", true), ("true", true), ("True", true), ("0", false), ("false", false)] {
            assert_eq!(with(&[("X-B3-Sampled", value)]).unwrap().is_sampled(), sampled, "{value}");
        }
        assert_eq!(with(&[("X-B3-Sampled", "yes")]), None);
        assert!(with(&[("X-B3-Flags", "1")]).unwrap().is_sampled(), "debug implies accept");
        assert!(with(&[("X-B3-Flags", "1"), ("X-B3-Sampled", "0")]).unwrap().is_sampled());
        assert!(!with(&[("X-B3-Flags", "2")]).unwrap().is_sampled(), "other flags are ignored");
        assert!(with(&[("X-B3-ParentSpanId", PARENT)]).is_some());
        assert!(with(&[("X-B3-ParentSpanId", "nope")]).is_some(), "the parent span id is not read");
        assert_eq!(extract(&[("X-B3-TraceId", TRACE)]), None, "a span id is required");
        assert_eq!(extract(&[("X-B3-SpanId", SPAN)]), None, "a trace id is required");
        let short = extract(&[("x-b3-traceid", "a3ce929d0e0e4736"), ("x-b3-spanid", SPAN)]).unwrap();
        assert_eq!(short.trace_id().to_string(), "0000000000000000a3ce929d0e0e4736");
    }

    #[test]
    fn the_single_header_wins_and_a_bad_one_falls_back_to_multiple() {
        let other = "11111111111111111111111111111111";
        let single = format!("{other}-{SPAN}-1");
        let carrier = headers(&[("b3", &single), ("X-B3-TraceId", TRACE), ("X-B3-SpanId", SPAN)]);
        assert_eq!(B3Propagator::multi().extract(&carrier).unwrap().trace_id().to_string(), other);
        let carrier = headers(&[("b3", "0"), ("X-B3-TraceId", TRACE), ("X-B3-SpanId", SPAN)]);
        assert_eq!(B3Propagator::single().extract(&carrier).unwrap().trace_id().to_string(), TRACE);
    }

    #[test]
    fn repeated_headers_are_unusable() {
        let mut headers = http::HeaderMap::new();
        let value = format!("{TRACE}-{SPAN}-1");
        headers.append("b3", value.parse().unwrap());
        headers.append("b3", value.parse().unwrap());
        assert_eq!(B3Propagator::single().extract(&headers), None);
        let mut headers = http::HeaderMap::new();
        headers.append("x-b3-traceid", TRACE.parse().unwrap());
        headers.append("x-b3-spanid", SPAN.parse().unwrap());
        headers.append("x-b3-sampled", "1".parse().unwrap());
        headers.append("x-b3-sampled", "1".parse().unwrap());
        assert_eq!(B3Propagator::multi().extract(&headers), None);
    }

    #[test]
    fn debug_is_kept_sent_on_in_both_encodings_and_never_leaves_as_a_w3c_bit() {
        for received in [
            headers(&[("b3", &format!("{TRACE}-{SPAN}-d"))]),
            headers(&[("X-B3-TraceId", TRACE), ("X-B3-SpanId", SPAN), ("X-B3-Flags", "1")]),
            headers(&[("X-B3-TraceId", TRACE), ("X-B3-SpanId", SPAN), ("X-B3-Sampled", "0"), ("X-B3-Flags", "1")]),
        ] {
            let context = B3Propagator::default().extract(&received).unwrap();
            assert!(context.is_sampled() && context.trace_flags().is_b3_debug(), "{received:?}");
            assert_eq!(context.trace_flags().bits(), 0x01, "the W3C byte shows sampled only");
            let mut single = HashMap::new();
            B3Propagator::single().inject(&context, &mut single);
            assert_eq!(single, headers(&[("b3", &format!("{TRACE}-{SPAN}-d"))]));
            let mut multi = headers(&[("X-B3-Sampled", "1")]);
            B3Propagator::multi().inject(&context, &mut multi);
            assert_eq!(multi, headers(&[("x-b3-traceid", TRACE), ("x-b3-spanid", SPAN), ("x-b3-flags", "1")]));
            let mut w3c = HashMap::new();
            crate::propagation::TraceContextPropagator.inject(&context, &mut w3c);
            assert!(w3c["traceparent"].ends_with("-01"), "{w3c:?}");
        }
        assert!(!parse(&format!("{TRACE}-{SPAN}-1")).unwrap().trace_flags().is_b3_debug());
        assert!(!TraceFlags::new(0xff).is_b3_debug(), "a raw byte cannot set it");
        assert_eq!(TraceFlags::new(0xff).with_b3_debug(true).bits(), 0xff);
    }

    #[test]
    fn inject_writes_the_chosen_encoding_and_round_trips() {
        let context = parse(&format!("{TRACE}-{SPAN}-1-{PARENT}")).unwrap();
        let mut single = HashMap::new();
        B3Propagator::single().inject(&context, &mut single);
        assert_eq!(single, headers(&[("b3", &format!("{TRACE}-{SPAN}-1"))]));
        let mut multi = headers(&[("X-B3-ParentSpanId", PARENT), ("X-B3-Flags", "1")]);
        B3Propagator::multi().inject(&context, &mut multi);
        assert_eq!(multi, headers(&[("x-b3-traceid", TRACE), ("x-b3-spanid", SPAN), ("x-b3-sampled", "1")]));
        for carrier in [&single, &multi] {
            assert_eq!(B3Propagator::default().extract(carrier), Some(context.clone()));
        }
        let mut nothing = HashMap::new();
        B3Propagator::single().inject(&SpanContext::invalid(), &mut nothing);
        assert!(nothing.is_empty());
    }
}
