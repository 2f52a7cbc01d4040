//! The OTLP/JSON field mappings that differ from serde's defaults.
//!
//! `build.rs` attaches these to the generated types by field type: 64-bit integers travel as
//! decimal strings, doubles allow `"NaN"` and `"±Infinity"`, trace and span ids are hex, and other
//! bytes are base64. Readers accept both a number and a string for any integer, and treat `null`
//! as the default, as the proto3 JSON rules ask.
//!
//! ```
//! use nanotel::proto::trace::v1::Span;
//!
//! let span = Span { trace_id: vec![0xab; 16], start_time_unix_nano: 1_700_000_000_000_000_000, ..Default::default() };
//! let json = serde_json::to_string(&span).unwrap();
//! assert_eq!(json, r#"{"traceId":"abababababababababababababababab","startTimeUnixNano":"1700000000000000000"}"#);
//! assert_eq!(serde_json::from_str::<Span>(&json).unwrap(), span);
//! ```

#![expect(
    clippy::missing_errors_doc,
    reason = "serde `with` helpers: their errors are the serializer's or deserializer's own, as serde documents"
)]

use std::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::ser::{SerializeSeq, Serializer};
use serde::Deserialize;

/// Whether a field holds its type's default value, which proto3 JSON leaves out.
pub fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

/// A number as JSON has it before it is narrowed to the field's type.
///
/// Read by a visitor that accepts scalars only: an array or object where a number belongs is an
/// error at its first byte, never buffered (as serde's untagged enums would), so hostile input
/// costs no more memory than its own size.
enum Number<'a> {
    Unsigned(u64),
    Signed(i64),
    Float(f64),
    Text(&'a str),
    Owned(String),
    Null(()),
}

impl<'de> Deserialize<'de> for Number<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Scalar;
        impl<'de> Visitor<'de> for Scalar {
            type Value = Number<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number or a string holding one (or null)")
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Self::Value, E> {
                Ok(Number::Unsigned(n))
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Self::Value, E> {
                Ok(Number::Signed(n))
            }
            fn visit_f64<E: de::Error>(self, n: f64) -> Result<Self::Value, E> {
                Ok(Number::Float(n))
            }
            fn visit_borrowed_str<E: de::Error>(self, text: &'de str) -> Result<Self::Value, E> {
                Ok(Number::Text(text))
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
                Ok(Number::Owned(text.to_owned()))
            }
            fn visit_string<E: de::Error>(self, text: String) -> Result<Self::Value, E> {
                Ok(Number::Owned(text))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Number::Null(()))
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Number::Null(()))
            }
        }
        deserializer.deserialize_any(Scalar)
    }
}

fn integer_from<E: de::Error, T>(number: Number<'_>) -> Result<T, E>
where
    T: TryFrom<u64> + TryFrom<i64> + std::str::FromStr + Default,
{
    let out_of_range = || E::custom("integer out of range");
    match number {
        Number::Unsigned(n) => T::try_from(n).map_err(|_| out_of_range()),
        Number::Signed(n) => T::try_from(n).map_err(|_| out_of_range()),
        Number::Float(f) if f.fract() == 0.0 && f.abs() < 9.007_199_254_740_992e15 => {
            T::try_from(f as i64).map_err(|_| out_of_range())
        }
        Number::Float(_) => Err(E::custom("expected an integer")),
        Number::Text(text) => text.trim().parse().map_err(|_| E::custom("expected an integer string")),
        Number::Owned(text) => text.trim().parse().map_err(|_| E::custom("expected an integer string")),
        Number::Null(()) => Ok(T::default()),
    }
}

fn float_from<E: de::Error>(number: Number<'_>) -> Result<f64, E> {
    let parse = |text: &str| match text {
        "NaN" => Ok(f64::NAN),
        "Infinity" => Ok(f64::INFINITY),
        "-Infinity" => Ok(f64::NEG_INFINITY),
        other => other.trim().parse().map_err(|_| E::custom("expected a number")),
    };
    match number {
        Number::Unsigned(n) => Ok(n as f64),
        Number::Signed(n) => Ok(n as f64),
        Number::Float(f) => Ok(f),
        Number::Text(text) => parse(text),
        Number::Owned(text) => parse(&text),
        Number::Null(()) => Ok(0.0),
    }
}

fn float_to<S: Serializer>(value: f64, serializer: S) -> Result<S::Ok, S::Error> {
    if value.is_nan() {
        serializer.serialize_str("NaN")
    } else if value == f64::INFINITY {
        serializer.serialize_str("Infinity")
    } else if value == f64::NEG_INFINITY {
        serializer.serialize_str("-Infinity")
    } else {
        serializer.serialize_f64(value)
    }
}

/// `fixed64` and `uint64` fields: decimal strings.
pub mod u64_string {
    use super::{integer_from, Deserialize, Deserializer, Number, Serializer};

    /// Writes the value as a decimal string.
    pub fn serialize<S: Serializer>(value: &u64, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(value)
    }

    /// Reads a number or a decimal string.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
        integer_from(Number::deserialize(deserializer)?)
    }
}

/// `int64`, `sint64` and `sfixed64` fields: decimal strings.
pub mod i64_string {
    use super::{integer_from, Deserialize, Deserializer, Number, Serializer};

    /// Writes the value as a decimal string.
    pub fn serialize<S: Serializer>(value: &i64, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(value)
    }

    /// Reads a number or a decimal string.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
        integer_from(Number::deserialize(deserializer)?)
    }
}

/// Repeated `fixed64` and `uint64` fields (bucket counts).
pub mod u64_string_vec {
    use super::{de, fmt, integer_from, Deserializer, Number, SeqAccess, SerializeSeq, Serializer, Visitor};

    /// Writes each value as a decimal string.
    pub fn serialize<S: Serializer>(values: &[u64], serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(values.len()))?;
        for value in values {
            seq.serialize_element(&value.to_string())?;
        }
        seq.end()
    }

    /// Reads a list of numbers or decimal strings.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u64>, D::Error> {
        struct Elements;
        impl<'de> Visitor<'de> for Elements {
            type Value = Vec<u64>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of integers")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Vec::new())
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
                while let Some(number) = seq.next_element::<Number<'de>>()? {
                    out.push(integer_from(number)?);
                }
                Ok(out)
            }
        }
        deserializer.deserialize_any(Elements)
    }
}

/// `double` fields: numbers, with `"NaN"`, `"Infinity"` and `"-Infinity"` as strings.
pub mod f64_number {
    use super::{float_from, float_to, Deserialize, Deserializer, Number, Serializer};

    /// Writes a number, or the string form of a non-finite value.
    pub fn serialize<S: Serializer>(value: &f64, serializer: S) -> Result<S::Ok, S::Error> {
        float_to(*value, serializer)
    }

    /// Reads a number or its string form.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
        float_from(Number::deserialize(deserializer)?)
    }
}

/// `optional double` fields (histogram sum, min and max).
pub mod f64_number_opt {
    use super::{float_from, float_to, Deserialize, Deserializer, Number, Serializer};

    /// Writes the value when present (the field is skipped otherwise).
    pub fn serialize<S: Serializer>(value: &Option<f64>, serializer: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(value) => float_to(*value, serializer),
            None => serializer.serialize_none(),
        }
    }

    /// Reads a number or its string form; `null` is absent.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<f64>, D::Error> {
        match Number::deserialize(deserializer)? {
            Number::Null(()) => Ok(None),
            number => float_from(number).map(Some),
        }
    }
}

/// Repeated `double` fields (explicit bucket bounds).
pub mod f64_number_vec {
    use super::{de, float_from, float_to, fmt, Deserializer, Number, SeqAccess, SerializeSeq, Serializer, Visitor};

    struct Element(f64);

    impl serde::Serialize for Element {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            float_to(self.0, serializer)
        }
    }

    /// Writes each value as [`f64_number`](super::f64_number) does.
    pub fn serialize<S: Serializer>(values: &[f64], serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(values.len()))?;
        for value in values {
            seq.serialize_element(&Element(*value))?;
        }
        seq.end()
    }

    /// Reads a list of numbers or their string forms.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<f64>, D::Error> {
        struct Elements;
        impl<'de> Visitor<'de> for Elements {
            type Value = Vec<f64>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of numbers")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Vec::new())
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
                while let Some(number) = seq.next_element::<Number<'de>>()? {
                    out.push(float_from(number)?);
                }
                Ok(out)
            }
        }
        deserializer.deserialize_any(Elements)
    }
}

/// Trace and span ids: lowercase hex on output, either case on input.
pub mod hex_bytes {
    use super::{de, Deserialize, Deserializer, Serializer};
    use crate::hex::hex_byte;

    const DIGITS: &[u8; 16] = b"0123456789abcdef";

    /// Writes the bytes as lowercase hex.
    pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        let mut text = String::with_capacity(bytes.len() * 2);
        for byte in bytes {
            text.push(DIGITS[usize::from(byte >> 4)] as char);
            text.push(DIGITS[usize::from(byte & 0xf)] as char);
        }
        serializer.serialize_str(&text)
    }

    /// Reads hex of either case.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        let text = Option::<std::borrow::Cow<'de, str>>::deserialize(deserializer)?.unwrap_or_default();
        decode(&text).ok_or_else(|| de::Error::custom("expected an even number of hex digits"))
    }

    /// Decodes hex of either case; `None` when the text is not hex.
    #[must_use]
    pub fn decode(text: &str) -> Option<Vec<u8>> {
        let text = text.as_bytes();
        if !text.len().is_multiple_of(2) {
            return None;
        }
        text.chunks_exact(2).map(|pair| hex_byte(pair[0], pair[1])).collect()
    }
}

/// Other `bytes` fields: standard base64 with padding.
pub mod base64_bytes {
    use super::{de, Deserialize, Deserializer, Serializer};

    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    /// Writes the bytes as padded base64.
    pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&encode(bytes))
    }

    /// Reads standard or URL-safe base64, padded or not.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        let text = Option::<std::borrow::Cow<'de, str>>::deserialize(deserializer)?.unwrap_or_default();
        decode(&text).ok_or_else(|| de::Error::custom("invalid base64"))
    }

    /// Encodes as standard base64 with padding.
    #[must_use]
    pub fn encode(bytes: &[u8]) -> String {
        let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
        for chunk in bytes.chunks(3) {
            let word = u32::from(chunk[0]) << 16
                | u32::from(*chunk.get(1).unwrap_or(&0)) << 8
                | u32::from(*chunk.get(2).unwrap_or(&0));
            for position in 0..4 {
                if position <= chunk.len() {
                    out.push(ALPHABET[(word >> (18 - 6 * position) & 0x3f) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }

    /// Decodes standard or URL-safe base64, padded or not; `None` when it is not base64.
    #[must_use]
    pub fn decode(text: &str) -> Option<Vec<u8>> {
        let text = text.trim_end_matches('=').as_bytes();
        let sextet = |c: u8| match c {
            b'A'..=b'Z' => Some(c - b'A'),
            b'a'..=b'z' => Some(c - b'a' + 26),
            b'0'..=b'9' => Some(c - b'0' + 52),
            b'+' | b'-' => Some(62),
            b'/' | b'_' => Some(63),
            _ => None,
        };
        if text.len() % 4 == 1 {
            return None;
        }
        let mut out = Vec::with_capacity(text.len() * 3 / 4);
        for chunk in text.chunks(4) {
            let mut word = 0u32;
            for (i, &c) in chunk.iter().enumerate() {
                word |= u32::from(sextet(c)?) << (18 - 6 * i);
            }
            let bytes = word.to_be_bytes();
            out.extend_from_slice(&bytes[1..chunk.len()]);
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips_every_length() {
        for len in 0..40u8 {
            let bytes: Vec<u8> = (0..len).map(|i| i.wrapping_mul(37).wrapping_add(250)).collect();
            let text = base64_bytes::encode(&bytes);
            assert_eq!(text.len() % 4, 0);
            assert_eq!(base64_bytes::decode(&text), Some(bytes));
        }
        assert_eq!(base64_bytes::encode(b"foob"), "Zm9vYg==");
        assert_eq!(base64_bytes::decode("Zm9vYg"), Some(b"foob".to_vec()));
        assert_eq!(base64_bytes::decode("Z"), None);
        assert_eq!(base64_bytes::decode("Zm9*"), None);
    }

    #[test]
    fn numbers_accept_strings_and_null_and_refuse_containers() {
        #[derive(serde::Deserialize)]
        struct Point {
            #[serde(with = "u64_string")]
            count: u64,
            #[serde(with = "f64_number")]
            sum: f64,
        }
        let point: Point = serde_json::from_str(r#"{"count":"18446744073709551615","sum":"-Infinity"}"#).unwrap();
        assert_eq!((point.count, point.sum), (u64::MAX, f64::NEG_INFINITY));
        let point: Point = serde_json::from_str(r#"{"count":null,"sum":2}"#).unwrap();
        assert_eq!((point.count, point.sum), (0, 2.0));
        assert!(serde_json::from_str::<Point>(r#"{"count":[1,2,3],"sum":1}"#).is_err());
        assert!(serde_json::from_str::<Point>(r#"{"count":1,"sum":{"a":1}}"#).is_err());
    }

    #[test]
    fn hex_accepts_either_case_and_rejects_odd_input() {
        assert_eq!(hex_bytes::decode("0aFf"), Some(vec![0x0a, 0xff]));
        assert_eq!(hex_bytes::decode("abc"), None);
        assert_eq!(hex_bytes::decode("zz"), None);
    }
}
