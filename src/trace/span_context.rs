//! The identity of a span as it travels: trace id, span id, flags and vendor trace state.

use std::fmt;

use super::TraceState;
use crate::hex::hex_byte;

// Held as big-endian 64-bit words rather than bytes: ids are made from random words and copied
// on every span start, and word-sized copies keep the processor's store forwarding working (a wide
// load of bytes written piecewise stalls).

/// A 128-bit trace id. All zeros is invalid.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TraceId([u64; 2]);

/// A 64-bit span id. All zeros is invalid.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SpanId([u64; 1]);

macro_rules! id_type {
    ($name:ident, $len:literal, $words:literal) => {
        impl $name {
            /// The invalid (all-zero) id.
            pub const INVALID: $name = $name([0; $words]);

            /// The id with these bytes (big-endian, as on the wire).
            pub const fn from_bytes(bytes: [u8; $len]) -> Self {
                let mut words = [0u64; $words];
                let mut i = 0;
                while i < $len {
                    words[i / 8] = (words[i / 8] << 8) | bytes[i] as u64;
                    i += 1;
                }
                $name(words)
            }

            /// The id's bytes, as on the wire.
            pub const fn to_bytes(self) -> [u8; $len] {
                let mut bytes = [0u8; $len];
                let mut i = 0;
                while i < $len {
                    bytes[i] = (self.0[i / 8] >> (56 - 8 * (i % 8))) as u8;
                    i += 1;
                }
                bytes
            }

            /// Whether the id is not all zeros.
            pub fn is_valid(&self) -> bool {
                self.0 != [0; $words]
            }

            /// Parses exactly the lowercase or uppercase hex form (no prefix, no separators).
            /// Returns `None` for any other input, including the wrong length.
            pub fn from_hex(hex: &str) -> Option<Self> {
                let hex = hex.as_bytes();
                if hex.len() != 2 * $len {
                    return None;
                }
                let mut bytes = [0u8; $len];
                for (byte, pair) in bytes.iter_mut().zip(hex.chunks_exact(2)) {
                    *byte = hex_byte(pair[0], pair[1])?;
                }
                Some($name::from_bytes(bytes))
            }
        }

        impl fmt::Display for $name {
            /// Lowercase hex, as in `traceparent` and OTLP/JSON.
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.to_bytes().iter().try_for_each(|b| write!(f, "{b:02x}"))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({self})", stringify!($name))
            }
        }
    };
}

id_type!(TraceId, 16, 2);
id_type!(SpanId, 8, 1);

impl TraceId {
    /// The id of these two big-endian words (the first holds bytes 0..8).
    #[inline(always)]
    pub(crate) const fn from_words(high: u64, low: u64) -> Self {
        TraceId([high, low])
    }

    /// Bytes 8..16 as a big-endian integer, the part ratio sampling reads.
    #[inline(always)]
    pub(crate) const fn low_word(self) -> u64 {
        self.0[1]
    }
}

impl SpanId {
    /// The id of this big-endian word.
    #[inline(always)]
    pub(crate) const fn from_word(word: u64) -> Self {
        SpanId([word])
    }
}

/// The W3C trace flags byte (the `sampled` bit 0x01, and 0x02 `random`), and whether a B3 parent
/// asked for debug.
///
/// B3's debug flag (`X-B3-Flags: 1`, or `d` as the `b3` header's sampling state) has no place in
/// the W3C byte; nanotel keeps it in a bit of its own beyond the byte, which
/// [`bits`](TraceFlags::bits) never shows, so it never reaches a `traceparent` header or an
/// exported span. Children inherit it
/// with their parent's flags, so the B3 propagator sends it on downstream, as Zipkin's tracers do.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, Debug)]
pub struct TraceFlags(u16);

impl TraceFlags {
    /// No flag set: not sampled.
    pub const NOT_SAMPLED: TraceFlags = TraceFlags(0);
    /// The `sampled` flag.
    pub const SAMPLED: TraceFlags = TraceFlags(1);
    /// nanotel's own bit for B3's debug flag, beyond the W3C byte.
    const B3_DEBUG: u16 = 0x100;

    /// Flags from the raw byte. Propagation keeps only the bits W3C defines (sampled, random).
    #[must_use]
    pub const fn new(bits: u8) -> Self {
        TraceFlags(bits as u16)
    }

    /// The raw W3C byte (without B3's debug flag).
    #[must_use]
    pub const fn bits(self) -> u8 {
        self.0 as u8
    }

    /// Whether the `sampled` bit is set.
    #[must_use]
    pub const fn is_sampled(self) -> bool {
        self.0 & 1 == 1
    }

    /// These flags with the `sampled` bit set or cleared.
    #[must_use]
    pub const fn with_sampled(self, sampled: bool) -> Self {
        TraceFlags(if sampled { self.0 | 1 } else { self.0 & !1 })
    }

    /// Whether a B3 parent asked for debug (which implies sampled).
    #[must_use]
    pub const fn is_b3_debug(self) -> bool {
        self.0 & Self::B3_DEBUG != 0
    }

    /// These flags with B3's debug flag set or cleared.
    #[must_use]
    pub const fn with_b3_debug(self, debug: bool) -> Self {
        TraceFlags(if debug { self.0 | Self::B3_DEBUG } else { self.0 & !Self::B3_DEBUG })
    }
}

/// What identifies a span to its children and to other processes.
///
/// ```
/// use nanotel::trace::{SpanContext, SpanId, TraceFlags, TraceId};
///
/// let context = SpanContext::new(
///     TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
///     SpanId::from_hex("00f067aa0ba902b7").unwrap(),
///     TraceFlags::SAMPLED,
///     true,
///     Default::default(),
/// );
/// assert!(context.is_valid() && context.is_sampled() && context.is_remote());
/// ```
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct SpanContext {
    trace_id: TraceId,
    span_id: SpanId,
    trace_flags: TraceFlags,
    is_remote: bool,
    trace_state: TraceState,
}

impl SpanContext {
    /// Clears the sampled flag, in place (see `LazyContext::into_unsampled`).
    #[inline(always)]
    pub(crate) fn clear_sampled(&mut self) {
        self.trace_flags = self.trace_flags.with_sampled(false);
    }

    /// A span context from its parts.
    #[must_use]
    pub fn new(
        trace_id: TraceId,
        span_id: SpanId,
        trace_flags: TraceFlags,
        is_remote: bool,
        trace_state: TraceState,
    ) -> Self {
        SpanContext { trace_id, span_id, trace_flags, is_remote, trace_state }
    }

    /// Puts ids in place (a refused span's, drawn on first read).
    pub(crate) fn set_ids(&mut self, trace_id: TraceId, span_id: SpanId) {
        self.trace_id = trace_id;
        self.span_id = span_id;
    }

    /// Moves the trace state out, leaving none.
    #[inline(always)]
    pub(crate) fn take_trace_state(&mut self) -> TraceState {
        std::mem::take(&mut self.trace_state)
    }

    /// Moves `*source` to `target`.
    ///
    /// Read through a reference, once, where it goes: inlined into the code that made the
    /// context, the read becomes stores of the values it was made from (see
    /// `Attributes::set_from`).
    ///
    /// # Safety
    /// Takes ownership of `*source`: the caller must neither use nor drop it afterwards. `target`
    /// must be valid for writes and aligned; what it held is overwritten without being dropped.
    #[inline(always)]
    pub(crate) unsafe fn move_to(source: &std::mem::ManuallyDrop<SpanContext>, target: *mut SpanContext) {
        // SAFETY: the caller hands over `*source` and guarantees `target`.
        unsafe { target.write(std::ptr::read(&raw const **source)) }
    }

    /// The invalid context, as a constant (for a span whose context lives elsewhere).
    pub(crate) const INVALID: SpanContext = SpanContext {
        trace_id: TraceId::INVALID,
        span_id: SpanId::INVALID,
        trace_flags: TraceFlags::NOT_SAMPLED,
        is_remote: false,
        trace_state: TraceState::EMPTY,
    };

    /// The invalid context: no span.
    #[must_use]
    pub fn invalid() -> Self {
        SpanContext::default()
    }

    /// The trace id.
    #[must_use]
    pub fn trace_id(&self) -> TraceId {
        self.trace_id
    }

    /// The span id.
    #[must_use]
    pub fn span_id(&self) -> SpanId {
        self.span_id
    }

    /// The trace flags.
    #[must_use]
    pub fn trace_flags(&self) -> TraceFlags {
        self.trace_flags
    }

    /// Whether the span is sampled (recorded and exported).
    #[must_use]
    pub fn is_sampled(&self) -> bool {
        self.trace_flags.is_sampled()
    }

    /// Whether the context came from another process (extracted by a propagator).
    #[must_use]
    pub fn is_remote(&self) -> bool {
        self.is_remote
    }

    /// The vendor-specific `tracestate`.
    #[must_use]
    pub fn trace_state(&self) -> &TraceState {
        &self.trace_state
    }

    /// Whether both ids are valid (non-zero).
    #[must_use]
    pub fn is_valid(&self) -> bool {
        self.trace_id.is_valid() && self.span_id.is_valid()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let id = TraceId::from_hex("4BF92F3577B34DA6A3CE929D0E0E4736").unwrap();
        assert_eq!(id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(SpanId::from_hex("00f067aa0ba902b7").unwrap().to_bytes()[1], 0xf0);
        assert_eq!(SpanId::from_hex("00f067aa0ba902b"), None);
        assert_eq!(SpanId::from_hex("00f067aa0ba902bg"), None);
        assert!(!TraceId::INVALID.is_valid());
    }

    #[test]
    fn words_are_big_endian() {
        let bytes: [u8; 16] = std::array::from_fn(|i| i as u8 + 1);
        let id = TraceId::from_bytes(bytes);
        assert_eq!(id.to_bytes(), bytes);
        assert_eq!(id.low_word(), u64::from_be_bytes([9, 10, 11, 12, 13, 14, 15, 16]));
        assert_eq!(TraceId::from_words(1, 2).to_bytes()[7], 1);
        assert_eq!(SpanId::from_word(0x0102).to_bytes(), [0, 0, 0, 0, 0, 0, 1, 2]);
    }

    #[test]
    fn flags_keep_unknown_bits() {
        let flags = TraceFlags::new(0x81);
        assert!(flags.is_sampled());
        assert_eq!(flags.with_sampled(false).bits(), 0x80);
    }
}
