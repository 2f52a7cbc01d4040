//! Percent-encoding of W3C Baggage values: UTF-8 bytes outside the value alphabet become `%XX`.

use crate::hex::hex_byte;

/// Whether `byte` may appear unencoded in a baggage value: printable ASCII other than space,
/// `"`, `,`, `;` and `\`. (`%` is in this set on the wire, where it starts an escape.)
pub(crate) fn is_value_octet(byte: u8) -> bool {
    matches!(byte, 0x21 | 0x23..=0x2b | 0x2d..=0x3a | 0x3c..=0x5b | 0x5d..=0x7e)
}

/// Whether `byte` is written as itself when encoding (`%` never is).
fn is_plain(byte: u8) -> bool {
    is_value_octet(byte) && byte != b'%'
}

/// Appends `value` to `out`, percent-encoding every byte that is not plain.
pub(crate) fn encode(value: &str, out: &mut String) {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    for &byte in value.as_bytes() {
        if is_plain(byte) {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push(char::from(DIGITS[usize::from(byte >> 4)]));
            out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
        }
    }
}

/// The length [`encode`] gives `value`.
pub(crate) fn encoded_len(value: &str) -> usize {
    value.bytes().map(|byte| if is_plain(byte) { 1 } else { 3 }).sum()
}

/// Decodes a received value. `None` when it holds a byte outside the value alphabet or a `%` not
/// followed by two hex digits; decoded bytes that are not UTF-8 become U+FFFD.
pub(crate) fn decode(raw: &[u8]) -> Option<String> {
    let mut bytes = Vec::with_capacity(raw.len());
    let mut rest = raw;
    while let Some((&byte, tail)) = rest.split_first() {
        if !is_value_octet(byte) {
            return None;
        }
        if byte == b'%' {
            let [high, low, tail @ ..] = tail else { return None };
            bytes.push(hex_byte(*high, *low)?);
            rest = tail;
        } else {
            bytes.push(byte);
            rest = tail;
        }
    }
    Some(match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(error) => String::from_utf8_lossy(error.as_bytes()).into_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(value: &str) -> String {
        let mut out = String::new();
        encode(value, &mut out);
        assert_eq!(out.len(), encoded_len(value));
        out
    }

    #[test]
    fn encodes_what_the_alphabet_lacks() {
        assert_eq!(encoded("Amélie"), "Am%C3%A9lie");
        assert_eq!(encoded("DF 28"), "DF%2028");
        assert_eq!(encoded("100%"), "100%25");
        assert_eq!(encoded("a\"b,c;d\\e"), "a%22b%2Cc%3Bd%5Ce");
        assert_eq!(encoded("a=b/c?"), "a=b/c?");
        assert_eq!(encoded(""), "");
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
