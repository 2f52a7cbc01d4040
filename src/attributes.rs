//! Attributes: the key-value pairs every signal carries.
//!
//! Built to be cheap on the hot path: a key or string value is either a `&'static str` (no
//! allocation, no reference count) or a shared `Arc<str>` (one allocation when made, a
//! reference-count increment when cloned). Values of every OTLP type are supported; the composite
//! ones (arrays, maps, bytes) are shared slices, so cloning an attribute never copies its data.
//!
//! Values convert from what a program holds (`From`): `bool`; every integer type (to `I64`; an
//! unsigned one above `i64::MAX` becomes its decimal string, as the specification's attribute type
//! mapping says, since OTLP has no unsigned integer: only such a value allocates); `f64`, `f32`;
//! `&'static str`, `Cow<'static, str>` (neither copied), `String`, `&String`, `Arc<str>`, [`Text`];
//! arrays of `bool`, `i64`, `f64` and strings as `Vec`s, slices or fixed-size arrays (to `Array`);
//! `Vec<u8>` (to `Bytes`), `Vec<Value>` (`Array`), `Vec<KeyValue>` (`Map`).
//!
//! ```
//! use nanotel::attributes::{KeyValue, Value};
//!
//! let venue = KeyValue::new("venue", "XNAS");
//! let qty = KeyValue::new("order.qty", 100);
//! assert_eq!(venue.value, Value::from("XNAS"));
//! assert_eq!(qty.value.to_string(), "100");
//! let venues = KeyValue::new("venues", ["XNAS", "XLON"]);
//! assert_eq!(venues.value.to_string(), r#"["XNAS","XLON"]"#);
//! assert_eq!(Value::from(u64::MAX), Value::from("18446744073709551615"));
//! ```

use std::borrow::{Borrow, Cow};
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::sync::Arc;

use crate::proto::common::v1 as otlp;

#[cfg(any(feature = "tracing", feature = "log"))]
pub(crate) mod interned;
mod nesting;

pub use nesting::MAX_NESTING;

/// A program's value as text, for the bridges and error descriptions. `ToString` panics when a
/// `Display` impl returns an error (a formatter of the program's that fails, or one of a
/// library's that reports a broken invariant so): inside a log call or an error report that
/// panic was the program's. Here what it wrote before failing is kept.
pub(crate) fn display_text(value: &(impl fmt::Display + ?Sized)) -> String {
    use fmt::Write;
    let mut text = String::new();
    let _ = write!(text, "{value}");
    text
}

/// The most sources [`error_text`] follows: an error whose `source()` leads back to itself (a
/// cycle its type allows) looped for ever, growing the text, until session 41.
const MAX_ERROR_SOURCES: usize = 64;

/// An error's text with its sources after `: `, each by [`display_text`], at most
/// [`MAX_ERROR_SOURCES`] of them: the `exception.message` of a span's exception event and of a
/// log record alike.
pub(crate) fn error_text<E: std::error::Error + ?Sized>(error: &E) -> String {
    let mut text = display_text(error);
    let mut source = error.source();
    for _ in 0..MAX_ERROR_SOURCES {
        let Some(cause) = source else { break };
        text.push_str(": ");
        text.push_str(&display_text(cause));
        source = cause.source();
    }
    text
}

/// An error's Rust type for `exception.type`, or `None` for a trait object (`&dyn Error`, the
/// error of a `Box<dyn Error>` or an `anyhow::Error`): its type name is the trait's
/// (`dyn core::error::Error`), the same for every error, which would group them all as one kind.
/// The semantic conventions ask for the type only where there is no message, and there always is.
pub(crate) fn error_type<E: std::error::Error + ?Sized>() -> Option<&'static str> {
    Some(std::any::type_name::<E>()).filter(|name| !name.starts_with("dyn "))
}

/// Text that is either static or shared: cloning never copies the characters.
#[derive(Clone)]
pub enum Text {
    /// A string the program holds for its whole life: the hot-path case.
    Static(&'static str),
    /// A string made at run time, shared by every clone.
    Shared(Arc<str>),
}

impl Text {
    /// The characters.
    #[must_use]
    pub fn as_str(&self) -> &str {
        match self {
            Text::Static(s) => s,
            Text::Shared(s) => s,
        }
    }
}

impl Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for Text {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq for Text {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Text {}

impl Hash for Text {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl PartialOrd for Text {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Text {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&'static str> for Text {
    fn from(s: &'static str) -> Self {
        Text::Static(s)
    }
}

impl From<String> for Text {
    fn from(s: String) -> Self {
        Text::Shared(s.into())
    }
}

impl From<Arc<str>> for Text {
    fn from(s: Arc<str>) -> Self {
        Text::Shared(s)
    }
}

impl From<&String> for Text {
    fn from(s: &String) -> Self {
        Text::Shared(s.as_str().into())
    }
}

/// A borrowed `Cow` is kept as it is (it is `'static`); an owned one is moved into an `Arc`. A
/// `Cow` that borrows for less converts with `cow.into_owned()`.
impl From<Cow<'static, str>> for Text {
    fn from(s: Cow<'static, str>) -> Self {
        match s {
            Cow::Borrowed(s) => Text::Static(s),
            Cow::Owned(s) => s.into(),
        }
    }
}

/// An attribute value: any of the OTLP `AnyValue` types.
///
/// Equality and hashing treat floating-point values by their bits, so a value can identify a
/// metric series (`NaN` equals itself, `0.0` and `-0.0` differ). Arrays and maps may nest as deep
/// as a program builds them: nanotel reads them to [`MAX_NESTING`] levels, and dropping one never
/// recurses.
#[derive(Clone)]
pub enum Value {
    /// A boolean.
    Bool(bool),
    /// A signed 64-bit integer.
    I64(i64),
    /// A 64-bit float.
    F64(f64),
    /// A string.
    Str(Text),
    /// Raw bytes.
    Bytes(Arc<[u8]>),
    /// A list of values (they need not share a type).
    Array(Arc<[Value]>),
    /// A nested list of key-value pairs.
    Map(Arc<[KeyValue]>),
}

macro_rules! value_from {
    ($($source:ty => $variant:ident $(as $cast:ty)?),* $(,)?) => {
        $(impl From<$source> for Value {
            fn from(v: $source) -> Self {
                Value::$variant(v $(as $cast)?)
            }
        })*
    };
}

value_from!(bool => Bool, i64 => I64, i32 => I64 as i64, u32 => I64 as i64, i16 => I64 as i64, u16 => I64 as i64,
    i8 => I64 as i64, u8 => I64 as i64, f64 => F64, f32 => F64 as f64);

/// Integers that may not fit in an `i64`: OTLP's only integer. The specification's attribute type
/// mapping says an integer outside the signed 64-bit range SHOULD become its decimal string,
/// which keeps it exact (a double would round it); OpenTelemetry's own Rust log appender does the
/// same for `u64`. A value in range stays an integer, and costs no allocation.
macro_rules! value_from_wide_integer {
    ($($source:ty),*) => {
        $(impl From<$source> for Value {
            fn from(v: $source) -> Self {
                i64::try_from(v).map_or_else(|_| Value::from(v.to_string()), Value::I64)
            }
        })*
    };
}

value_from_wide_integer!(u64, usize, isize, u128, i128);

impl From<&'static str> for Value {
    fn from(v: &'static str) -> Self {
        Value::Str(Text::Static(v))
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Str(v.into())
    }
}

impl From<Arc<str>> for Value {
    fn from(v: Arc<str>) -> Self {
        Value::Str(v.into())
    }
}

impl From<Text> for Value {
    fn from(v: Text) -> Self {
        Value::Str(v)
    }
}

impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Value::Str(v.into())
    }
}

impl From<Cow<'static, str>> for Value {
    fn from(v: Cow<'static, str>) -> Self {
        Value::Str(v.into())
    }
}

/// Homogeneous arrays, the kind attribute values may be in every OpenTelemetry SDK, from a `Vec`,
/// a slice or a fixed-size array. (`Vec<u8>` is `Bytes`, not an array of integers, so an untyped
/// `vec![1, 2]` needs its type: `vec![1_i64, 2]`.)
macro_rules! value_from_array {
    ($($element:ty),*) => {
        $(
            impl From<Vec<$element>> for Value {
                fn from(v: Vec<$element>) -> Self {
                    Value::Array(v.into_iter().map(Value::from).collect())
                }
            }

            impl From<&[$element]> for Value {
                fn from(v: &[$element]) -> Self {
                    Value::Array(v.iter().cloned().map(Value::from).collect())
                }
            }

            impl<const N: usize> From<[$element; N]> for Value {
                fn from(v: [$element; N]) -> Self {
                    Value::Array(v.into_iter().map(Value::from).collect())
                }
            }
        )*
    };
}

value_from_array!(bool, i64, f64, &'static str, String, Arc<str>, Text);

impl From<Vec<Value>> for Value {
    fn from(v: Vec<Value>) -> Self {
        Value::Array(v.into())
    }
}

impl From<Vec<KeyValue>> for Value {
    fn from(v: Vec<KeyValue>) -> Self {
        Value::Map(v.into())
    }
}

impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Self {
        Value::Bytes(v.into())
    }
}

impl Value {
    /// The OTLP form of the value (its arrays and maps past [`MAX_NESTING`] empty values).
    #[must_use]
    pub fn to_proto(&self) -> otlp::AnyValue {
        self.to_proto_at(1, MAX_NESTING)
    }

    /// The OTLP form of the value with its arrays and maps nested deeper than `max_depth` (the
    /// value itself is at depth 1; at most [`MAX_NESTING`]) each an empty value: the
    /// specification's attribute value depth limit. The conversion never descends past the
    /// limit, however deep the value.
    pub(crate) fn to_proto_within(&self, max_depth: usize) -> otlp::AnyValue {
        self.to_proto_at(1, max_depth.min(MAX_NESTING))
    }

    fn to_proto_at(&self, depth: usize, max_depth: usize) -> otlp::AnyValue {
        use otlp::any_value::Value as Any;
        let value = match self {
            Value::Array(_) | Value::Map(_) if depth > max_depth => return otlp::AnyValue { value: None },
            Value::Bool(v) => Any::BoolValue(*v),
            Value::I64(v) => Any::IntValue(*v),
            Value::F64(v) => Any::DoubleValue(*v),
            Value::Str(v) => Any::StringValue(v.as_str().to_owned()),
            Value::Bytes(v) => Any::BytesValue(v.to_vec()),
            Value::Array(values) => Any::ArrayValue(otlp::ArrayValue {
                values: values.iter().map(|value| value.to_proto_at(depth + 1, max_depth)).collect(),
            }),
            Value::Map(entries) => Any::KvlistValue(otlp::KeyValueList {
                values: unique_entries(entries)
                    .map(|(key, value)| otlp::KeyValue {
                        key: key.as_str().to_owned(),
                        value: Some(value.to_proto_at(depth + 1, max_depth)),
                        ..Default::default()
                    })
                    .collect(),
            }),
        };
        otlp::AnyValue { value: Some(value) }
    }
}

/// A map's entries as exported: each key once, where its first entry stood, with the last value
/// given for it, as a record's own attributes are (the specification: exported maps MUST hold
/// unique keys; until session 41 every entry went). The usual map, without a repeated key, is
/// walked as it is, after one check of its keys.
pub(crate) fn unique_entries(entries: &[KeyValue]) -> impl Iterator<Item = (&Text, &Value)> {
    // With a repeated key, where each key first and last stands (a linear pass, not a scan per
    // entry: a large map with one repeat stays cheap).
    let places = has_repeated_keys(entries).then(|| {
        let mut places: std::collections::HashMap<&str, (usize, usize)> = std::collections::HashMap::new();
        for (index, kv) in entries.iter().enumerate() {
            places.entry(kv.key.as_str()).and_modify(|(_, last)| *last = index).or_insert((index, index));
        }
        places
    });
    entries.iter().enumerate().filter_map(move |(index, kv)| match &places {
        None => Some((&kv.key, &kv.value)),
        Some(places) => {
            let (first, last) = places.get(kv.key.as_str()).copied().unwrap_or((index, index));
            (first == index).then(|| (&kv.key, &entries[last].value))
        }
    })
}

/// Whether a key appears twice among `entries`: compared pair by pair when few, through a set
/// otherwise (the exporter thread's allocation, for a large map).
fn has_repeated_keys(entries: &[KeyValue]) -> bool {
    const PAIRWISE: usize = 16;
    if entries.len() <= PAIRWISE {
        return entries.iter().enumerate().any(|(index, kv)| entries[..index].iter().any(|e| e.key == kv.key));
    }
    let mut seen = std::collections::HashSet::with_capacity(entries.len());
    !entries.iter().all(|kv| seen.insert(kv.key.as_str()))
}

/// The default attribute value depth limit (`SpanLimits` and `LogLimits`'
/// `attribute_value_depth`), the specification's: 64.
pub(crate) const DEFAULT_VALUE_DEPTH: usize = 64;

/// How attribute values are cut when exported (the specification's attribute limits): strings to
/// `length` characters and byte arrays to as many bytes (uncut when `None`), element by element;
/// arrays and maps nested deeper than `depth` (the attribute's value itself at depth 1) each
/// replaced with an empty value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ValueLimits {
    pub(crate) length: Option<usize>,
    pub(crate) depth: usize,
}

/// One attribute: a key and its value.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct KeyValue {
    /// The attribute's name, for example `http.request.method`.
    pub key: Text,
    /// Its value.
    pub value: Value,
}

impl KeyValue {
    /// An attribute from anything that converts into a key and a value.
    ///
    /// ```
    /// use nanotel::attributes::KeyValue;
    /// let side = KeyValue::new("side", "buy");
    /// assert_eq!(side.key.as_str(), "side");
    /// ```
    pub fn new(key: impl Into<Text>, value: impl Into<Value>) -> Self {
        KeyValue { key: key.into(), value: value.into() }
    }

    /// A string attribute known at compile time, made in `const` context (for the attributes of a
    /// [`StaticCounter`](crate::metrics::StaticCounter) or
    /// [`StaticHistogram`](crate::metrics::StaticHistogram)).
    ///
    /// ```
    /// use nanotel::attributes::KeyValue;
    /// const VENUE: KeyValue = KeyValue::static_str("venue", "XNAS");
    /// assert_eq!(VENUE, KeyValue::new("venue", "XNAS"));
    /// ```
    #[must_use]
    pub const fn static_str(key: &'static str, value: &'static str) -> Self {
        KeyValue { key: Text::Static(key), value: Value::Str(Text::Static(value)) }
    }

    /// An integer attribute made in `const` context (see [`static_str`](Self::static_str)).
    #[must_use]
    pub const fn static_i64(key: &'static str, value: i64) -> Self {
        KeyValue { key: Text::Static(key), value: Value::I64(value) }
    }

    /// A boolean attribute made in `const` context (see [`static_str`](Self::static_str)).
    #[must_use]
    pub const fn static_bool(key: &'static str, value: bool) -> Self {
        KeyValue { key: Text::Static(key), value: Value::Bool(value) }
    }

    /// The OTLP form of the attribute.
    #[must_use]
    pub fn to_proto(&self) -> otlp::KeyValue {
        otlp::KeyValue { key: self.key.as_str().to_owned(), value: Some(self.value.to_proto()), ..Default::default() }
    }
}

impl<K: Into<Text>, V: Into<Value>> From<(K, V)> for KeyValue {
    fn from((key, value): (K, V)) -> Self {
        KeyValue::new(key, value)
    }
}

#[cfg(test)]
mod tests {
    /// A value whose `Display` writes part of itself, then fails.
    struct Failing;

    impl fmt::Display for Failing {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("half")?;
            Err(fmt::Error)
        }
    }

    #[test]
    fn a_failing_display_keeps_what_it_wrote() {
        assert_eq!(display_text(&Failing), "half");
        assert_eq!(display_text(&format_args!("{} and {}", 1, Failing)), "1 and half");
    }

    use super::*;

    /// An error that is its own source.
    #[derive(Debug)]
    struct Cyclic;

    impl fmt::Display for Cyclic {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("again")
        }
    }

    impl std::error::Error for Cyclic {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&Cyclic)
        }
    }

    /// Past 16 entries the repeat is found through a set, and the entries kept in one pass.
    #[test]
    fn a_large_map_keeps_each_key_once_in_its_first_place_with_its_last_value() {
        let mut entries: Vec<KeyValue> = (0..20).map(|i| KeyValue::new(format!("k{i}"), i)).collect();
        entries.push(KeyValue::new("k3", 99));
        let kept: Vec<(String, Value)> =
            unique_entries(&entries).map(|(key, value)| (key.as_str().to_owned(), value.clone())).collect();
        assert_eq!(kept.len(), 20);
        assert_eq!(kept[3], ("k3".to_owned(), Value::from(99)));
        assert_eq!(kept[19], ("k19".to_owned(), Value::from(19)));
    }

    #[test]
    fn an_error_that_is_its_own_source_is_followed_a_bounded_number_of_times() {
        assert_eq!(error_text(&Cyclic).matches("again").count(), MAX_ERROR_SOURCES + 1);
    }

    #[test]
    fn static_and_shared_text_compare_by_content() {
        let a = KeyValue::new("venue", "XNAS");
        let b = KeyValue::new(String::from("venue"), String::from("XNAS"));
        assert_eq!(a, b);
        let hash = |kv: &KeyValue| {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            kv.hash(&mut h);
            h.finish()
        };
        assert_eq!(hash(&a), hash(&b));
    }

    #[test]
    fn floats_compare_by_bits() {
        assert_eq!(Value::F64(f64::NAN), Value::F64(f64::NAN));
        assert_ne!(Value::F64(0.0), Value::F64(-0.0));
        assert_ne!(Value::F64(1.0), Value::I64(1));
    }

    #[test]
    fn every_type_maps_to_its_otlp_value() {
        use otlp::any_value::Value as Any;
        let nested = Value::from(vec![KeyValue::new("k", vec![Value::from(1), Value::from("x")])]);
        let any = nested.to_proto();
        let Some(Any::KvlistValue(list)) = any.value else { panic!("not a kvlist: {any:?}") };
        let Some(Any::ArrayValue(array)) = list.values[0].value.as_ref().and_then(|v| v.value.clone()) else {
            panic!("not an array")
        };
        assert_eq!(array.values[0].value, Some(Any::IntValue(1)));
        assert_eq!(array.values[1].value, Some(Any::StringValue("x".into())));
        assert_eq!(Value::from(vec![0xab_u8, 1]).to_proto().value, Some(Any::BytesValue(vec![0xab, 1])));
        assert_eq!(Value::from(2.5).to_proto().value, Some(Any::DoubleValue(2.5)));
        assert_eq!(Value::from(true).to_proto().value, Some(Any::BoolValue(true)));
    }

    #[test]
    fn integers_convert_to_i64_and_unsigned_ones_past_its_range_to_their_decimal_string() {
        assert_eq!(Value::from(7_u8), Value::I64(7));
        assert_eq!(Value::from(u16::MAX), Value::I64(65_535));
        assert_eq!(Value::from(u32::MAX), Value::I64(4_294_967_295));
        assert_eq!(Value::from(-8_i8), Value::I64(-8));
        assert_eq!(Value::from(i16::MIN), Value::I64(-32_768));
        assert_eq!(Value::from(i32::MIN), Value::I64(-2_147_483_648));
        assert_eq!(Value::from(i64::MAX as u64), Value::I64(i64::MAX));
        assert_eq!(Value::from(i64::MAX as u64 + 1), Value::from("9223372036854775808"));
        assert_eq!(Value::from(u64::MAX), Value::from("18446744073709551615"));
        assert_eq!(Value::from(42_usize), Value::I64(42));
        assert_eq!(Value::from(usize::MAX).to_string(), usize::MAX.to_string());
        assert_eq!(Value::from(-42_isize), Value::I64(-42));
        assert_eq!(Value::from(i128::MIN), Value::from(i128::MIN.to_string()));
        assert_eq!(Value::from(-1_i128), Value::I64(-1));
        assert_eq!(Value::from(u128::MAX), Value::from(u128::MAX.to_string()));
    }

    #[test]
    fn floats_and_strings_convert_without_copying_what_is_static() {
        assert_eq!(Value::from(0.5_f32), Value::F64(0.5));
        assert_eq!(Value::from(&String::from("a")), Value::from("a"));
        assert!(matches!(Value::from(Cow::Borrowed("b")), Value::Str(Text::Static("b"))));
        assert!(matches!(Value::from(Cow::<'static, str>::Owned("c".into())), Value::Str(Text::Shared(_))));
        assert_eq!(Value::from(Cow::<'static, str>::Owned("c".into())), Value::from("c"));
        assert_eq!(Value::from(Arc::<str>::from("d")), Value::from("d"));
        let key = String::from("venue");
        assert_eq!(KeyValue::new(&key, "XNAS"), KeyValue::new("venue", "XNAS"));
        assert!(matches!(Text::from(Cow::Borrowed("k")), Text::Static("k")));
    }

    #[test]
    fn homogeneous_arrays_convert_from_vecs_slices_and_fixed_arrays() {
        let ints = Value::from(vec![Value::I64(1), Value::I64(-2)]);
        assert_eq!(Value::from(vec![1_i64, -2]), ints);
        assert_eq!(Value::from(&[1_i64, -2][..]), ints);
        assert_eq!(Value::from([1_i64, -2]), ints);
        assert_eq!(Value::from([1, -2]), ints, "an untyped fixed-size array of integers is i64");
        let flags = Value::from(vec![Value::Bool(true), Value::Bool(false)]);
        assert_eq!(Value::from(vec![true, false]), flags);
        assert_eq!(Value::from(&[true, false][..]), flags);
        assert_eq!(Value::from([true, false]), flags);
        let doubles = Value::from(vec![Value::F64(0.5), Value::F64(1.5)]);
        assert_eq!(Value::from(vec![0.5, 1.5]), doubles);
        assert_eq!(Value::from(&[0.5, 1.5][..]), doubles);
        assert_eq!(Value::from([0.5, 1.5]), doubles);
        let venues = Value::from(vec![Value::from("XNAS"), Value::from("XLON")]);
        assert_eq!(Value::from(vec!["XNAS", "XLON"]), venues);
        assert_eq!(Value::from(&["XNAS", "XLON"][..]), venues);
        assert_eq!(Value::from(["XNAS", "XLON"]), venues);
        assert_eq!(Value::from(vec![String::from("XNAS"), String::from("XLON")]), venues);
        assert_eq!(Value::from(&[String::from("XNAS"), String::from("XLON")][..]), venues);
        assert_eq!(Value::from(vec![Arc::<str>::from("XNAS"), Arc::from("XLON")]), venues);
        assert_eq!(Value::from([Text::from("XNAS"), Text::from("XLON")]), venues);
        assert_eq!(Value::from(Vec::<i64>::new()), Value::Array(Arc::new([])));
        assert_eq!(Value::from(vec![1_u8, 2]), Value::Bytes(Arc::new([1, 2])), "Vec<u8> stays bytes");
    }

    #[test]
    fn display_forms() {
        assert_eq!(Value::from(vec![Value::from("a"), Value::from(2)]).to_string(), r#"["a",2]"#);
        assert_eq!(Value::from(vec![1u8, 0xff]).to_string(), "01ff");
        assert_eq!(Value::from(vec![KeyValue::new("k", true)]).to_string(), r#"{"k":true}"#);
    }
}
