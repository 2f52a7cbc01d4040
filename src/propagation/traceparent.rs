//! The W3C `traceparent` header: `version-traceid-parentid-flags` in lowercase hex.

use std::fmt;

use crate::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};

use super::trim_ows;

/// The length of a version `00` header: `00-` + 32 + `-` + 16 + `-` + 2.
const LEN: usize = 55;

/// The flags this implementation knows: sampled (0x01) and random trace id (0x02, Level 2).
/// Other bits are undefined, so they are cleared on the way in and never sent.
const KNOWN_FLAGS: u8 = 0x03;

/// Why a `traceparent` value was rejected. Whatever the reason, the header is ignored and the
/// receiver starts a new trace.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum TraceparentError {
    /// Not `version-traceid-parentid-flags`: too short, a `-` missing, or data after the flags of
    /// a version `00` header (or, in a later version, not after a `-`).
    Malformed,
    /// The version is not two lowercase hex digits, or is the forbidden `ff`.
    InvalidVersion,
    /// The trace id is not 32 lowercase hex digits, or is all zeros.
    InvalidTraceId,
    /// The parent (span) id is not 16 lowercase hex digits, or is all zeros.
    InvalidParentId,
    /// The flags are not two lowercase hex digits.
    InvalidFlags,
}

impl fmt::Display for TraceparentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TraceparentError::Malformed => "traceparent is not `version-traceid-parentid-flags`",
            TraceparentError::InvalidVersion => "traceparent version is not two lowercase hex digits other than ff",
            TraceparentError::InvalidTraceId => "traceparent trace id is not 32 lowercase hex digits, not all zero",
            TraceparentError::InvalidParentId => "traceparent parent id is not 16 lowercase hex digits, not all zero",
            TraceparentError::InvalidFlags => "traceparent flags are not two lowercase hex digits",
        })
    }
}

impl std::error::Error for TraceparentError {}

/// Parses a `traceparent` value into a remote span context with an empty trace state.
///
/// Spaces and tabs around the value are ignored. Version `00` must be exactly
/// `00-<32 hex>-<16 hex>-<2 hex>`; a later version must start that way and may carry more fields
/// after another `-`, which are ignored (`ff` is never valid). Hex must be lowercase, ids must not
/// be all zeros, and flag bits other than sampled (0x01) and random (0x02) are cleared.
///
/// ```
/// use nanotel::propagation::traceparent;
///
/// let context = traceparent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
/// assert_eq!(context.trace_id().to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
/// assert_eq!(context.span_id().to_string(), "00f067aa0ba902b7");
/// assert!(context.is_sampled() && context.is_remote());
///
/// assert!(traceparent::parse("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01").is_err());
/// ```
///
/// # Errors
///
/// A [`TraceparentError`] when `value` is not a valid `traceparent` header (or its trace or span id
/// is all zeros).
pub fn parse(value: &str) -> Result<SpanContext, TraceparentError> {
    parse_bytes(value.as_bytes())
}

/// [`parse`] on raw header bytes (anything not ASCII is simply invalid).
pub(crate) fn parse_bytes(value: &[u8]) -> Result<SpanContext, TraceparentError> {
    let value = trim_ows(value);
    if value.len() < LEN {
        return Err(TraceparentError::Malformed);
    }
    let version = lower_hex_byte(&value[0..2]).ok_or(TraceparentError::InvalidVersion)?;
    if version == 0xff {
        return Err(TraceparentError::InvalidVersion);
    }
    // Version 00 has exactly four fields; a later one may append fields, each after a `-`.
    let rest_ok = match version {
        0 => value.len() == LEN,
        _ => value.len() == LEN || value[LEN] == b'-',
    };
    if value[2] != b'-' || value[35] != b'-' || value[52] != b'-' || !rest_ok {
        return Err(TraceparentError::Malformed);
    }
    let mut trace_id = [0u8; 16];
    lower_hex(&value[3..35], &mut trace_id).ok_or(TraceparentError::InvalidTraceId)?;
    let trace_id = TraceId::from_bytes(trace_id);
    if !trace_id.is_valid() {
        return Err(TraceparentError::InvalidTraceId);
    }
    let mut span_id = [0u8; 8];
    lower_hex(&value[36..52], &mut span_id).ok_or(TraceparentError::InvalidParentId)?;
    let span_id = SpanId::from_bytes(span_id);
    if !span_id.is_valid() {
        return Err(TraceparentError::InvalidParentId);
    }
    let flags = lower_hex_byte(&value[53..55]).ok_or(TraceparentError::InvalidFlags)?;
    let flags = TraceFlags::new(flags & KNOWN_FLAGS);
    Ok(SpanContext::new(trace_id, span_id, flags, true, TraceState::default()))
}

/// Appends the version `00` `traceparent` value of `context` to `out` (55 characters).
///
/// Callers check [`SpanContext::is_valid`] first: an invalid context has no `traceparent`. Flag
/// bits other than sampled and random are not sent.
///
/// ```
/// use nanotel::propagation::traceparent;
///
/// let value = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
/// let mut out = String::new();
/// traceparent::write(&traceparent::parse(value).unwrap(), &mut out);
/// assert_eq!(out, value);
/// ```
pub fn write(context: &SpanContext, out: &mut String) {
    out.push_str(encode(context).as_str());
}

/// A `traceparent` value on the stack, so that injecting one does not allocate.
pub(crate) struct Encoded([u8; LEN]);

impl Encoded {
    pub(crate) fn as_str(&self) -> &str {
        // The buffer holds only ASCII hex digits and dashes, so this cannot fail; an empty value
        // would be rejected by any parser rather than panic here.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

/// The version `00` value of `context`.
pub(crate) fn encode(context: &SpanContext) -> Encoded {
    let mut out = [b'-'; LEN];
    out[0] = b'0';
    out[1] = b'0';
    write_hex(&context.trace_id().to_bytes(), &mut out[3..35]);
    write_hex(&context.span_id().to_bytes(), &mut out[36..52]);
    write_hex(&[context.trace_flags().bits() & KNOWN_FLAGS], &mut out[53..55]);
    Encoded(out)
}

pub(super) fn write_hex(bytes: &[u8], out: &mut [u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (byte, pair) in bytes.iter().zip(out.chunks_exact_mut(2)) {
        pair[0] = DIGITS[usize::from(byte >> 4)];
        pair[1] = DIGITS[usize::from(byte & 0x0f)];
    }
}

/// Each byte's value as a lowercase hex digit, or [`NOT_HEX`]: one table load per digit, and a
/// whole field is checked at once by OR-ing its digits, with no branch per byte.
const HEX_VALUE: [u8; 256] = {
    let mut table = [NOT_HEX; 256];
    let mut i = 0;
    while i < 10 {
        table[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        table[b'a' as usize + i] = 10 + i as u8;
        i += 1;
    }
    table
};

/// Marks a byte that is not a lowercase hex digit (any value above 15 would do).
const NOT_HEX: u8 = 0x80;

/// Fills `out` from lowercase hex `digits` (twice its length); `None` on any other byte.
pub(super) fn lower_hex(digits: &[u8], out: &mut [u8]) -> Option<()> {
    let mut seen = 0;
    for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        let (high, low) = (HEX_VALUE[usize::from(pair[0])], HEX_VALUE[usize::from(pair[1])]);
        seen |= high | low;
        *byte = high << 4 | low;
    }
    (seen & NOT_HEX == 0).then_some(())
}

fn lower_hex_byte(pair: &[u8]) -> Option<u8> {
    let mut byte = [0];
    lower_hex(pair, &mut byte)?;
    Some(byte[0])
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRACE: &str = "12345678901234567890123456789012";
    const PARENT: &str = "1234567890123456";

    fn header(version: &str, trace: &str, parent: &str, flags: &str) -> String {
        format!("{version}-{trace}-{parent}-{flags}")
    }

    #[test]
    fn parses_the_example() {
        let context = parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
        assert_eq!(context.trace_id(), TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap());
        assert_eq!(context.span_id(), SpanId::from_hex("00f067aa0ba902b7").unwrap());
        assert_eq!(context.trace_flags(), TraceFlags::SAMPLED);
        assert!(context.is_remote());
        assert!(context.trace_state().is_empty());
    }

    #[test]
    fn flags_are_tested_by_bit_and_unknown_bits_cleared() {
        assert!(!parse(&header("00", TRACE, PARENT, "00")).unwrap().is_sampled());
        assert_eq!(parse(&header("00", TRACE, PARENT, "02")).unwrap().trace_flags().bits(), 0x02);
        assert_eq!(parse(&header("00", TRACE, PARENT, "03")).unwrap().trace_flags().bits(), 0x03);
        let all = parse(&header("00", TRACE, PARENT, "ff")).unwrap();
        assert_eq!(all.trace_flags().bits(), 0x03);
        assert_eq!(parse(&header("00", TRACE, PARENT, "fe")).unwrap().trace_flags().bits(), 0x02);
    }

    #[test]
    fn writes_version_00_with_known_flags_only() {
        let context = SpanContext::new(
            TraceId::from_hex(TRACE).unwrap(),
            SpanId::from_hex(PARENT).unwrap(),
            TraceFlags::new(0xff),
            false,
            TraceState::default(),
        );
        let mut out = String::from("x");
        write(&context, &mut out);
        assert_eq!(out, format!("x00-{TRACE}-{PARENT}-03"));
    }

    #[test]
    fn errors_name_the_bad_field() {
        let cases = [
            ("", TraceparentError::Malformed),
            (&header("00", TRACE, PARENT, "0"), TraceparentError::Malformed),
            (&header("0g", TRACE, PARENT, "01"), TraceparentError::InvalidVersion),
            (&header("ff", TRACE, PARENT, "01"), TraceparentError::InvalidVersion),
            (&header("00", "4BF92F3577B34DA6A3CE929D0E0E4736", PARENT, "01"), TraceparentError::InvalidTraceId),
            (&header("00", &"0".repeat(32), PARENT, "01"), TraceparentError::InvalidTraceId),
            (&header("00", TRACE, "0000000000000000", "01"), TraceparentError::InvalidParentId),
            (&header("00", TRACE, "123456789012345g", "01"), TraceparentError::InvalidParentId),
            (&header("00", TRACE, PARENT, "0F"), TraceparentError::InvalidFlags),
            (&format!("00_{TRACE}-{PARENT}-01"), TraceparentError::Malformed),
            (&format!("{}-01", header("00", TRACE, PARENT, "01")), TraceparentError::Malformed),
        ];
        for (value, error) in cases {
            assert_eq!(parse(value), Err(error), "{value:?}");
            assert!(!error.to_string().is_empty());
        }
    }

    #[test]
    fn non_ascii_bytes_are_invalid_not_a_panic() {
        let mut value = header("00", TRACE, PARENT, "01").into_bytes();
        value[10] = 0xc3;
        assert_eq!(parse_bytes(&value), Err(TraceparentError::InvalidTraceId));
        let mut long = "é".repeat(40);
        long.push_str("-01");
        assert!(parse(&long).is_err());
    }
}
