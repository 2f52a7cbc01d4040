//! How deep nanotel reads a value: arrays and maps nest as deep as a program builds them, but
//! nothing nanotel does with a value walks past [`MAX_NESTING`] levels, and dropping one never
//! recurses.
//!
//! A value tens of thousands of levels deep (a document parsed without a depth limit, a list
//! built by wrapping the last one) overflowed a thread's stack wherever a walk recursed once per
//! level: the exporter thread encoding a metric attribute or a log body, or dropping any record
//! holding it (2 MiB of stack; 20,000 levels were enough), the Prometheus thread writing a label,
//! the recording thread hashing a metric attribute. A stack overflow aborts the process.
//!
//! So every walk takes the depth it is at, and an array or map deeper than [`MAX_NESTING`] (the
//! value itself at depth 1) counts as an empty value: OTLP conversion sends it empty (as the
//! attribute value depth limit does, which is clamped to this), comparison and hashing treat any
//! two such as the same (values that differ only below the ceiling are sent alike, so as metric
//! series they are one), and text shows it as `null`. Dropping moves, level by level, the arrays
//! and maps a value alone owns into a list and drops them from there, one level at a time (the
//! list held in place for the first few, so a chain of nested arrays drops without allocating).

use std::fmt;
use std::hash::{Hash, Hasher};
use std::mem;
use std::sync::Arc;

use super::{KeyValue, Value};

/// The deepest level of a value nanotel reads (the value itself is at depth 1): an array or map
/// nested deeper is sent as an empty value and compared, hashed and shown as one. A limit set
/// deeper than this ([`SpanLimits::attribute_value_depth`](crate::trace::SpanLimits::attribute_value_depth),
/// [`LogLimits::attribute_value_depth`](crate::logs::LogLimits::attribute_value_depth)) acts as
/// this. It keeps every walk over a value to a few kilobytes of stack.
pub const MAX_NESTING: usize = 128;

impl Value {
    /// Whether this is an array or a map: a value with values inside.
    fn is_nested(&self) -> bool {
        matches!(self, Value::Array(_) | Value::Map(_))
    }

    /// Whether this value, at `depth`, counts as empty: an array or map past the ceiling.
    fn is_past_ceiling(&self, depth: usize) -> bool {
        depth > MAX_NESTING && self.is_nested()
    }
}

impl Drop for Value {
    #[inline]
    fn drop(&mut self) {
        if self.is_nested() {
            drop_without_recursion(self);
        }
    }
}

/// Drops what `value` alone owns a level at a time: each array or map taken out of it waits in a
/// list, and is dropped only once the arrays and maps inside it are taken out in turn, so no drop
/// goes deeper than one level. What is shared with another clone is left to the last clone, whose
/// drop does the same.
fn drop_without_recursion(value: &mut Value) {
    let mut pending = Pending::default();
    take_nested(value, &mut pending);
    while let Some(mut next) = pending.pop() {
        take_nested(&mut next, &mut pending);
    }
}

/// Moves the arrays and maps inside `value` into `into` (a `false` left in their place), when
/// `value` is their only owner.
fn take_nested(value: &mut Value, into: &mut Pending) {
    let mut take = |v: &mut Value| {
        if v.is_nested() {
            into.push(mem::replace(v, Value::Bool(false)));
        }
    };
    match value {
        Value::Array(values) => {
            if let Some(values) = Arc::get_mut(values) {
                values.iter_mut().for_each(&mut take);
            }
        }
        Value::Map(entries) => {
            if let Some(entries) = Arc::get_mut(entries) {
                entries.iter_mut().for_each(|kv| take(&mut kv.value));
            }
        }
        _ => {}
    }
}

/// The arrays and maps waiting to be dropped: [`Pending::INLINE`] of them in place, the rest in a
/// list allocated only then. Drops on a recording thread (a refused span's attributes, an
/// overwritten one) allocate nothing for a value whose arrays and maps nest one inside the other,
/// however deep, or a few side by side.
struct Pending {
    inline: [Value; Pending::INLINE],
    len: usize,
    spilled: Vec<Value>,
}

impl Pending {
    const INLINE: usize = 8;

    fn push(&mut self, value: Value) {
        if self.len < Pending::INLINE {
            self.inline[self.len] = value;
            self.len += 1;
        } else {
            self.spilled.push(value);
        }
    }

    fn pop(&mut self) -> Option<Value> {
        if let Some(value) = self.spilled.pop() {
            return Some(value);
        }
        self.len = self.len.checked_sub(1)?;
        Some(mem::replace(&mut self.inline[self.len], Value::Bool(false)))
    }
}

impl Default for Pending {
    fn default() -> Self {
        const EMPTY: Value = Value::Bool(false);
        Pending { inline: [EMPTY; Pending::INLINE], len: 0, spilled: Vec::new() }
    }
}

#[cfg(feature = "tracing")]
impl Value {
    /// The text of a string value, moved out without a copy or a reference count; any other
    /// value back as it was. (A value cannot be taken apart by a pattern: it implements `Drop`.)
    pub(crate) fn into_text(mut self) -> Result<super::Text, Value> {
        match &mut self {
            Value::Str(text) => Ok(mem::replace(text, super::Text::Static(""))),
            _ => Err(self),
        }
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        same_at(self, other, 1)
    }
}

impl Eq for Value {}

/// Equality of two values at `depth`: floats by their bits, and any two arrays or maps past the
/// ceiling alike (both are sent as the same empty value).
fn same_at(a: &Value, b: &Value, depth: usize) -> bool {
    if a.is_past_ceiling(depth) || b.is_past_ceiling(depth) {
        return a.is_past_ceiling(depth) && b.is_past_ceiling(depth);
    }
    match (a, b) {
        (Value::Bool(a), Value::Bool(b)) => a == b,
        (Value::I64(a), Value::I64(b)) => a == b,
        (Value::F64(a), Value::F64(b)) => a.to_bits() == b.to_bits(),
        (Value::Str(a), Value::Str(b)) => a == b,
        (Value::Bytes(a), Value::Bytes(b)) => a == b,
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b.iter()).all(|(a, b)| same_at(a, b, depth + 1))
        }
        (Value::Map(a), Value::Map(b)) => {
            a.len() == b.len()
                && a.iter().zip(b.iter()).all(|(a, b)| a.key == b.key && same_at(&a.value, &b.value, depth + 1))
        }
        _ => false,
    }
}

impl Hash for Value {
    fn hash<H: Hasher>(&self, state: &mut H) {
        hash_at(self, state, 1);
    }
}

/// Hashes what [`same_at`] compares: equal values hash alike.
fn hash_at<H: Hasher>(value: &Value, state: &mut H, depth: usize) {
    if value.is_past_ceiling(depth) {
        // No discriminant is this large: an empty value hashes apart from every other.
        state.write_u8(u8::MAX);
        return;
    }
    mem::discriminant(value).hash(state);
    match value {
        Value::Bool(v) => v.hash(state),
        Value::I64(v) => v.hash(state),
        Value::F64(v) => v.to_bits().hash(state),
        Value::Str(v) => v.hash(state),
        Value::Bytes(v) => v.hash(state),
        Value::Array(values) => {
            state.write_usize(values.len());
            values.iter().for_each(|v| hash_at(v, state, depth + 1));
        }
        Value::Map(entries) => {
            state.write_usize(entries.len());
            for kv in entries.iter() {
                kv.key.hash(state);
                hash_at(&kv.value, state, depth + 1);
            }
        }
    }
}

impl fmt::Display for Value {
    /// The value as text, the way exporters without typed values (Prometheus labels, console
    /// lines) show it: arrays and maps as JSON-like lists, bytes as lowercase hex, and an array or
    /// map past [`MAX_NESTING`] as `null`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_at(self, f, 1)
    }
}

fn write_at(value: &Value, f: &mut fmt::Formatter<'_>, depth: usize) -> fmt::Result {
    if value.is_past_ceiling(depth) {
        return f.write_str("null");
    }
    match value {
        Value::Bool(v) => write!(f, "{v}"),
        Value::I64(v) => write!(f, "{v}"),
        Value::F64(v) => write!(f, "{v}"),
        Value::Str(v) => f.write_str(v),
        Value::Bytes(v) => v.iter().try_for_each(|b| write!(f, "{b:02x}")),
        Value::Array(values) => {
            f.write_str("[")?;
            for (i, v) in values.iter().enumerate() {
                if i > 0 {
                    f.write_str(",")?;
                }
                match v {
                    Value::Str(s) => write!(f, "{:?}", s.as_str())?,
                    other => write_at(other, f, depth + 1)?,
                }
            }
            f.write_str("]")
        }
        Value::Map(entries) => {
            f.write_str("{")?;
            for (i, kv) in entries.iter().enumerate() {
                if i > 0 {
                    f.write_str(",")?;
                }
                write!(f, "{:?}:", kv.key.as_str())?;
                write_at(&kv.value, f, depth + 1)?;
            }
            f.write_str("}")
        }
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        DebugAt(self, 1).fmt(f)
    }
}

impl fmt::Debug for KeyValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        DebugEntry(self, 1).fmt(f)
    }
}

/// A value's `Debug` at a depth (as `#[derive(Debug)]` writes it, down to the ceiling).
struct DebugAt<'a>(&'a Value, usize);

/// A map entry's `Debug` with its value at a depth.
struct DebugEntry<'a>(&'a KeyValue, usize);

impl fmt::Debug for DebugAt<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let DebugAt(value, depth) = *self;
        if value.is_past_ceiling(depth) {
            return f.write_str("Empty");
        }
        match value {
            Value::Bool(v) => f.debug_tuple("Bool").field(v).finish(),
            Value::I64(v) => f.debug_tuple("I64").field(v).finish(),
            Value::F64(v) => f.debug_tuple("F64").field(v).finish(),
            Value::Str(v) => f.debug_tuple("Str").field(v).finish(),
            Value::Bytes(v) => f.debug_tuple("Bytes").field(v).finish(),
            Value::Array(values) => {
                let items = DebugList(|f: &mut fmt::Formatter<'_>| {
                    f.debug_list().entries(values.iter().map(|v| DebugAt(v, depth + 1))).finish()
                });
                f.debug_tuple("Array").field(&items).finish()
            }
            Value::Map(entries) => {
                let items = DebugList(|f: &mut fmt::Formatter<'_>| {
                    f.debug_list().entries(entries.iter().map(|kv| DebugEntry(kv, depth + 1))).finish()
                });
                f.debug_tuple("Map").field(&items).finish()
            }
        }
    }
}

impl fmt::Debug for DebugEntry<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let DebugEntry(kv, depth) = *self;
        f.debug_struct("KeyValue").field("key", &kv.key).field("value", &DebugAt(&kv.value, depth)).finish()
    }
}

/// A closure as a `Debug` value.
struct DebugList<F>(F);

impl<F: Fn(&mut fmt::Formatter<'_>) -> fmt::Result> fmt::Debug for DebugList<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (self.0)(f)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::hash_map::DefaultHasher;

    use super::*;
    use crate::proto::common::v1::{any_value::Value as Any, AnyValue};

    /// A value `levels` deep, arrays and maps in turn, with `bottom` at the bottom.
    fn nested(levels: usize, bottom: Value) -> Value {
        (1..levels).fold(bottom, |inner, level| {
            if level % 2 == 0 {
                Value::from(vec![inner])
            } else {
                Value::from(vec![KeyValue::new("k", inner)])
            }
        })
    }

    fn hash_of(value: &Value) -> u64 {
        let mut state = DefaultHasher::new();
        value.hash(&mut state);
        state.finish()
    }

    /// Levels of nested OTLP messages counted as arrays and maps (a scalar alone is 1).
    fn depth_of(value: &AnyValue) -> usize {
        1 + match &value.value {
            Some(Any::KvlistValue(map)) => {
                map.values.iter().filter_map(|kv| kv.value.as_ref()).map(depth_of).max().unwrap_or(0)
            }
            Some(Any::ArrayValue(array)) => array.values.iter().map(depth_of).max().unwrap_or(0),
            _ => 0,
        }
    }

    #[test]
    fn a_value_of_any_depth_drops_on_a_small_stack() {
        let deep = nested(200_000, Value::from("bottom"));
        let shared = Value::from(vec![deep.clone(), deep]);
        let on_small_stack = std::thread::Builder::new().stack_size(64 * 1024);
        on_small_stack.spawn(move || drop(shared)).unwrap().join().expect("dropped without overflowing");
    }

    #[test]
    fn values_that_differ_only_past_the_ceiling_are_equal_and_hash_alike() {
        let below = |bottom: i64, levels: usize| nested(levels, Value::from(vec![bottom]));
        // The array around the bottom value sits at depth `levels`.
        let (a, b) = (below(1, MAX_NESTING + 1), below(2, MAX_NESTING + 1));
        assert_eq!(a, b);
        assert_eq!(hash_of(&a), hash_of(&b));
        let (a, b) = (below(1, MAX_NESTING), below(2, MAX_NESTING));
        assert_ne!(a, b);
        assert_ne!(hash_of(&a), hash_of(&b));
        assert_ne!(nested(MAX_NESTING, Value::from(1)), nested(MAX_NESTING, Value::from("1")));
    }

    #[test]
    fn conversion_and_text_stop_at_the_ceiling() {
        let deep = nested(10 * MAX_NESTING, Value::from("bottom"));
        assert_eq!(depth_of(&deep.to_proto()), MAX_NESTING + 1, "the level past the ceiling an empty value");
        assert_eq!(depth_of(&deep.to_proto_within(usize::MAX)), MAX_NESTING + 1);
        assert_eq!(depth_of(&deep.to_proto_within(3)), 4);
        let text = deep.to_string();
        assert!(text.contains("null") && !text.contains("bottom"), "{text:.100}");
        assert_eq!(text.matches('[').count() + text.matches('{').count(), MAX_NESTING);
        let debug = format!("{deep:?}");
        assert!(debug.contains("Empty") && !debug.contains("bottom"), "{debug:.100}");
        assert_eq!(debug.matches("Array(").count() + debug.matches("Map(").count(), MAX_NESTING);
        let shallow = Value::from(vec![KeyValue::new("k", vec![Value::from(1), Value::from("x")])]);
        assert_eq!(shallow.to_string(), r#"{"k":[1,"x"]}"#);
        assert_eq!(
            format!("{shallow:?}"),
            r#"Map([KeyValue { key: "k", value: Array([I64(1), Str("x")]) }])"#,
            "as `#[derive(Debug)]` wrote it"
        );
    }

    #[cfg(feature = "tracing")]
    #[test]
    fn a_string_value_gives_up_its_text_and_any_other_comes_back() {
        assert_eq!(Value::from(String::from("XNAS")).into_text().map(|t| t.to_string()), Ok("XNAS".to_owned()));
        assert_eq!(Value::from(7).into_text().map(|t| t.to_string()), Err(Value::from(7)));
    }
}
