//! Hex digits of either case, as ids, percent-encoded text and OTLP/JSON bytes spell them. (The
//! `traceparent` parser keeps its own table: it takes lowercase only, and checks without branching.)

/// The byte spelt by the hex digits `high` and `low`, of either case; `None` if either is not one.
pub(crate) fn hex_byte(high: u8, low: u8) -> Option<u8> {
    Some(hex_digit(high)? << 4 | hex_digit(low)?)
}

fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn either_case_and_nothing_else() {
        assert_eq!(hex_byte(b'0', b'9'), Some(0x09));
        assert_eq!(hex_byte(b'a', b'F'), Some(0xaf));
        assert_eq!(hex_byte(b'F', b'a'), Some(0xfa));
        for bad in [b'g', b'G', b'/', b':', b'@', b'`', b' ', 0xff] {
            assert_eq!(hex_byte(bad, b'0'), None, "{bad}");
            assert_eq!(hex_byte(b'0', bad), None, "{bad}");
        }
    }
}
