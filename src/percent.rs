//! Percent-encoding, one routine for every place that decodes it: `OTEL_EXPORTER_OTLP_HEADERS`,
//! `OTEL_RESOURCE_ATTRIBUTES`, W3C Baggage values (strict: a `%` must start an escape) and gRPC's
//! `grpc-message` (lenient: a malformed escape stays as it is, as gRPC asks). The decoding itself
//! is the `percent-encoding` crate's (the `url` crate's, already in the tree); what is ours is
//! only which escapes count as malformed.

use std::borrow::Cow;

use percent_encoding::{percent_decode, AsciiSet, CONTROLS};

/// Decodes `%XX` escapes (hex digits in either case); `None` when a `%` is not followed by two
/// hex digits.
pub(crate) fn decode_strict(raw: &[u8]) -> Option<Cow<'_, [u8]>> {
    let mut rest = raw;
    while let Some(at) = rest.iter().position(|&byte| byte == b'%') {
        let escape = rest.get(at + 1..at + 3)?;
        if !escape.iter().all(u8::is_ascii_hexdigit) {
            return None;
        }
        rest = &rest[at + 3..];
    }
    Some(percent_decode(raw).into())
}

/// Decodes `%XX` escapes strictly (see [`decode_strict`]), for a text setting: the decoded bytes
/// must form UTF-8. The error says what is wrong, to follow the name of what was decoded.
pub(crate) fn decode_text(text: &str) -> Result<String, &'static str> {
    let bytes = decode_strict(text.as_bytes()).ok_or("has a '%' that is not followed by two hex digits")?;
    String::from_utf8(bytes.into_owned()).map_err(|_| "does not decode to UTF-8")
}

/// Decodes `%XX` escapes, keeping a `%` that does not start one as it is.
pub(crate) fn decode_lenient(raw: &[u8]) -> Cow<'_, [u8]> {
    percent_decode(raw).into()
}

/// The bytes a W3C Baggage value writes escaped: controls, space, `"`, `,`, `;`, `\` and `%`
/// (every byte outside the value alphabet, and the escape character); non-ASCII always is.
const BAGGAGE_VALUE: &AsciiSet = &CONTROLS.add(b' ').add(b'"').add(b',').add(b';').add(b'\\').add(b'%');

/// Appends `value` to `out`, percent-encoded for a W3C Baggage value (uppercase hex).
pub(crate) fn encode_baggage_value(value: &str, out: &mut String) {
    out.extend(percent_encoding::utf8_percent_encode(value, BAGGAGE_VALUE));
}

/// The length [`encode_baggage_value`] gives `value`.
pub(crate) fn baggage_value_encoded_len(value: &str) -> usize {
    percent_encoding::utf8_percent_encode(value, BAGGAGE_VALUE).map(str::len).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_decoding_rejects_what_lenient_keeps() {
        assert_eq!(decode_strict(b"a%20b%C3%a9").as_deref(), Some("a b\u{e9}".as_bytes()));
        assert_eq!(decode_strict(b"plain").as_deref(), Some(&b"plain"[..]));
        for bad in [&b"%"[..], b"%4", b"%zz", b"a%2", b"100%"] {
            assert_eq!(decode_strict(bad), None, "{bad:?}");
        }
        assert_eq!(&*decode_lenient(b"a%20b%zz%4"), b"a b%zz%4");
    }

    #[test]
    fn baggage_values_escape_what_the_alphabet_lacks() {
        let encoded = |value: &str| {
            let mut out = String::new();
            encode_baggage_value(value, &mut out);
            assert_eq!(out.len(), baggage_value_encoded_len(value));
            out
        };
        assert_eq!(encoded("Amélie"), "Am%C3%A9lie");
        assert_eq!(encoded("DF 28"), "DF%2028");
        assert_eq!(encoded("100%"), "100%25");
        assert_eq!(encoded("a\"b,c;d\\e"), "a%22b%2Cc%3Bd%5Ce");
        assert_eq!(encoded("a=b/c?"), "a=b/c?");
        let all: String = (0u32..0x300).filter_map(char::from_u32).collect();
        assert_eq!(decode_strict(encoded(&all).as_bytes()).as_deref(), Some(all.as_bytes()));
    }
}
