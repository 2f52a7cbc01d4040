//! Percent-encoding of W3C Baggage values: UTF-8 bytes outside the value alphabet become `%XX`
//! (the routine itself is `crate::percent`'s; the alphabet is Baggage's).

/// Whether `byte` may appear unencoded in a baggage value: printable ASCII other than space,
/// `"`, `,`, `;` and `\`. (`%` is in this set on the wire, where it starts an escape.)
pub(crate) fn is_value_octet(byte: u8) -> bool {
    matches!(byte, 0x21 | 0x23..=0x2b | 0x2d..=0x3a | 0x3c..=0x5b | 0x5d..=0x7e)
}

/// Appends `value` to `out`, percent-encoding every byte outside the value alphabet (and `%`).
pub(crate) fn encode(value: &str, out: &mut String) {
    crate::percent::encode_baggage_value(value, out);
}

/// The length [`encode`] gives `value`.
pub(crate) fn encoded_len(value: &str) -> usize {
    crate::percent::baggage_value_encoded_len(value)
}

/// Decodes a received value. `None` when it holds a byte outside the value alphabet or a `%` not
/// followed by two hex digits; decoded bytes that are not UTF-8 become U+FFFD.
pub(crate) fn decode(raw: &[u8]) -> Option<String> {
    if !raw.iter().all(|&byte| is_value_octet(byte)) {
        return None;
    }
    Some(String::from_utf8_lossy(&crate::percent::decode_strict(raw)?).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(value: &str) -> String {
        let mut out = String::new();
        encode(value, &mut out);
        out
    }

    #[test]
    fn decodes_escapes_in_either_case() {
        assert_eq!(decode(b"Am%C3%A9lie").as_deref(), Some("Amélie"));
        assert_eq!(decode(b"Am%c3%a9lie").as_deref(), Some("Amélie"));
        assert_eq!(decode(b"a=b").as_deref(), Some("a=b"));
        assert_eq!(decode(b"").as_deref(), Some(""));
    }

    #[test]
    fn invalid_utf8_becomes_replacement_characters() {
        assert_eq!(decode(b"a%FFb").as_deref(), Some("a\u{FFFD}b"));
        assert_eq!(decode(b"%C3").as_deref(), Some("\u{FFFD}"));
    }

    #[test]
    fn rejects_bad_escapes_and_bytes() {
        for raw in [&b"%"[..], b"%4", b"%zz", b"a b", b"a\"", b"a,b", b"a;b", b"a\\b", b"\xc3\xa9", b"\x7f"] {
            assert_eq!(decode(raw), None, "{raw:?}");
        }
    }

    #[test]
    fn every_string_survives_a_round_trip() {
        let all: String = (0u32..0x300).filter_map(char::from_u32).collect();
        assert_eq!(decode(encoded(&all).as_bytes()).as_deref(), Some(all.as_str()));
    }
}
