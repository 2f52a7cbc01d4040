//! Attribute sets as series identities: an order-independent hash of a slice of attributes,
//! duplicate keys resolved (the last value wins, as the specification says), and comparison of a
//! caller's unsorted slice against a stored set, all without allocating.

use crate::attributes::{KeyValue, Text, Value, MAX_NESTING};

/// `attributes` as a canonical set, to compare with another as a whole: sorted by key, each key
/// once (the last value given wins).
pub(crate) fn canonical(attributes: &[KeyValue]) -> Vec<KeyValue> {
    let mut set: Vec<KeyValue> = Vec::with_capacity(attributes.len());
    for kv in attributes.iter().rev() {
        if !set.iter().any(|k| k.key == kv.key) {
            set.push(kv.clone());
        }
    }
    set.sort_by(|a, b| a.key.cmp(&b.key));
    set
}

/// Attribute slices longer than this are resolved with a heap-allocated copy (the rest of the
/// time, a bit mask on the stack says which pairs count).
pub(crate) const INLINE: usize = 64;

/// Which pairs of a slice count: bit `i` is clear when a later pair has the same key; and how
/// many do (counted here: baseline x86-64 has no popcount instruction).
#[derive(Clone, Copy)]
pub(crate) struct Live {
    mask: u64,
    count: usize,
}

impl Live {
    /// For slices of at most [`INLINE`] pairs. Quadratic in the length, but for the handful of
    /// attributes a measurement carries that is a few comparisons of (usually static) keys.
    #[inline]
    pub(crate) fn of(attributes: &[KeyValue]) -> Live {
        debug_assert!(attributes.len() <= INLINE);
        let mut live = Live::all(attributes);
        for (i, a) in attributes.iter().enumerate() {
            if attributes[i + 1..].iter().any(|b| same_text(&a.key, &b.key)) {
                live.mask &= !(1 << i);
                live.count -= 1;
            }
        }
        live
    }

    /// Every pair of `attributes` (at most [`INLINE`]).
    #[inline]
    fn all(attributes: &[KeyValue]) -> Live {
        debug_assert!(attributes.len() <= INLINE);
        let mask = if attributes.len() == INLINE { u64::MAX } else { (1u64 << attributes.len()) - 1 };
        Live { mask, count: attributes.len() }
    }

    #[inline]
    fn has(self, i: usize) -> bool {
        self.mask & (1 << i) != 0
    }

    pub(crate) fn count(self) -> usize {
        self.count
    }

    /// These pairs less those `keep` refuses (a view's attribute filter).
    #[inline]
    pub(crate) fn keeping(mut self, attributes: &[KeyValue], keep: impl Fn(&KeyValue) -> bool) -> Live {
        for (i, kv) in attributes.iter().enumerate() {
            if self.has(i) && !keep(kv) {
                self.mask &= !(1 << i);
                self.count -= 1;
            }
        }
        self
    }
}

/// Text equality with a shortcut for the same static string.
#[inline]
fn same_text(a: &Text, b: &Text) -> bool {
    let (a, b) = (a.as_str(), b.as_str());
    a.len() == b.len() && (a.as_ptr() == b.as_ptr() || a == b)
}

#[inline]
fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Str(a), Value::Str(b)) => same_text(a, b),
        _ => a == b,
    }
}

/// A 64-bit multiply-fold mix: fast, and every input bit reaches every output bit.
#[inline]
fn mix(a: u64, b: u64) -> u64 {
    let product = u128::from(a ^ 0x2d35_8dcc_aa6c_78a5) * u128::from(b ^ 0x8bb8_4b93_962e_acc9);
    (product as u64) ^ ((product >> 64) as u64)
}

/// Long byte strings: eight bytes per multiply-fold.
fn hash_bytes(bytes: &[u8], seed: u64) -> u64 {
    let mut h = seed ^ bytes.len() as u64;
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        h = mix(h, u64::from_le_bytes(word));
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut word = [0u8; 8];
        word[..rest.len()].copy_from_slice(rest);
        h = mix(h, u64::from_le_bytes(word));
    }
    h
}

/// A byte string as one word, cheaply: strings of up to 8 bytes (most attribute keys and
/// values) are packed with two overlapping fixed-size loads instead of a variable-length copy,
/// with the length folded in so "ab" and "abab"-like overlaps differ; longer ones are hashed.
#[inline]
fn text_word(bytes: &[u8]) -> u64 {
    let n = bytes.len();
    let packed = if n > 8 {
        return hash_bytes(bytes, 0x9e37_79b9_7f4a_7c15);
    } else if n >= 4 {
        let low = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        let high = u32::from_le_bytes([bytes[n - 4], bytes[n - 3], bytes[n - 2], bytes[n - 1]]);
        (u64::from(low) << 32) | u64::from(high)
    } else if n > 0 {
        (u64::from(bytes[0]) << 16) | (u64::from(bytes[n / 2]) << 8) | u64::from(bytes[n - 1])
    } else {
        0
    };
    packed ^ (n as u64).wrapping_mul(0xa076_1d64_78bd_642f)
}

fn value_word(value: &Value) -> u64 {
    value_word_at(value, 1)
}

/// A value at `depth` as one word: arrays and maps past [`MAX_NESTING`] all alike, as they
/// compare (`Value`'s equality), and no recursion past it.
fn value_word_at(value: &Value, depth: usize) -> u64 {
    match value {
        Value::Array(_) | Value::Map(_) if depth > MAX_NESTING => 8,
        Value::Str(v) => text_word(v.as_bytes()),
        Value::Bool(v) => mix(1, u64::from(*v)),
        Value::I64(v) => mix(2, *v as u64),
        Value::F64(v) => mix(3, v.to_bits()),
        Value::Bytes(v) => hash_bytes(v, 5),
        Value::Array(values) => values.iter().fold(6, |h, v| mix(h, value_word_at(v, depth + 1))),
        Value::Map(entries) => entries
            .iter()
            .fold(7, |h, kv| h.wrapping_add(mix(kv.key.as_str().len() as u64, value_word_at(&kv.value, depth + 1)))),
    }
}

/// One multiply-fold per pair when the value is short. Of the key, only its length counts: the
/// hash only picks where a lookup starts, and the comparison that ends it checks every key; the
/// series of one instrument usually share their keys and differ by value, so key bytes would
/// cost a load and a fold per pair for little spread. String values, the usual case, are
/// handled inline (`value_word` is recursive, so it is never inlined).
#[inline]
fn hash_pair(kv: &KeyValue) -> u64 {
    let value = match &kv.value {
        Value::Str(v) => text_word(v.as_bytes()),
        other => value_word(other),
    };
    mix(kv.key.as_str().len() as u64, value)
}

/// The hash of the live pairs: a sum of per-pair hashes, so the order of the pairs is irrelevant.
#[inline]
pub(crate) fn hash(attributes: &[KeyValue], live: Live) -> u64 {
    attributes.iter().enumerate().filter(|(i, _)| live.has(*i)).fold(0u64, |h, (_, kv)| h.wrapping_add(hash_pair(kv)))
}

/// The hash of every pair: [`hash`] of a slice in which no key repeats.
#[inline]
pub(crate) fn hash_all(attributes: &[KeyValue]) -> u64 {
    attributes.iter().fold(0u64, |h, kv| h.wrapping_add(hash_pair(kv)))
}

/// A series' identity: the attributes as first seen (duplicates removed) and their hash.
pub(crate) struct AttributeSet {
    attributes: Box<[KeyValue]>,
    hash: u64,
}

impl AttributeSet {
    /// The set of the live pairs of `attributes`, keeping the caller's order.
    pub(crate) fn new(attributes: &[KeyValue], live: Live, hash: u64) -> Self {
        let attributes =
            attributes.iter().enumerate().filter(|(i, _)| live.has(*i)).map(|(_, kv)| kv.clone()).collect();
        AttributeSet { attributes, hash }
    }

    /// A set of arbitrary length (the slow path for very long slices), deduplicated here.
    pub(crate) fn from_long(attributes: &[KeyValue]) -> Self {
        let mut kept: Vec<KeyValue> = Vec::with_capacity(attributes.len());
        for kv in attributes.iter().rev() {
            if !kept.iter().any(|k| k.key == kv.key) {
                kept.push(kv.clone());
            }
        }
        kept.reverse();
        let hash = kept.iter().fold(0u64, |h, kv| h.wrapping_add(hash_pair(kv)));
        AttributeSet { attributes: kept.into(), hash }
    }

    pub(crate) fn attributes(&self) -> &[KeyValue] {
        &self.attributes
    }

    pub(crate) fn hash(&self) -> u64 {
        self.hash
    }

    /// Whether the live pairs of `attributes` are exactly this set, in any order. Each pair is
    /// first compared with the stored pair at its own position (callers usually pass attributes in
    /// the same order every time), then searched for.
    #[inline]
    pub(crate) fn matches(&self, attributes: &[KeyValue], live: Live) -> bool {
        if live.count() != self.attributes.len() {
            return false;
        }
        let mut position = 0;
        attributes.iter().enumerate().filter(|(i, _)| live.has(*i)).all(|(_, kv)| {
            let found = |stored: &KeyValue| same_text(&stored.key, &kv.key) && same_value(&stored.value, &kv.value);
            let hit = self.attributes.get(position).is_some_and(found) || self.attributes.iter().any(found);
            position += 1;
            hit
        })
    }

    /// Whether `attributes` are exactly this set's pairs in this set's order. Then the slice has
    /// no repeated key either, since a set has none.
    #[inline]
    pub(crate) fn is_exactly(&self, attributes: &[KeyValue]) -> bool {
        self.attributes.len() == attributes.len()
            && self
                .attributes
                .iter()
                .zip(attributes)
                .all(|(stored, kv)| same_text(&stored.key, &kv.key) && same_value(&stored.value, &kv.value))
    }

    /// Whether this set equals another set (used for long slices).
    pub(crate) fn same_as(&self, other: &AttributeSet) -> bool {
        self.hash == other.hash
            && self.attributes.len() == other.attributes.len()
            && other.attributes.iter().all(|kv| self.attributes.contains(kv))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(attributes: &[KeyValue]) -> AttributeSet {
        let live = Live::of(attributes);
        AttributeSet::new(attributes, live, hash(attributes, live))
    }

    #[test]
    fn order_does_not_matter_and_the_last_duplicate_wins() {
        let a = [KeyValue::new("venue", "XNAS"), KeyValue::new("side", "buy"), KeyValue::new("qty", 100)];
        let b = [KeyValue::new("qty", 100), KeyValue::new("venue", "XNAS"), KeyValue::new("side", "buy")];
        let dup = [
            KeyValue::new("side", "sell"),
            KeyValue::new("qty", 100),
            KeyValue::new("venue", "XNAS"),
            KeyValue::new("side", "buy"),
        ];
        let stored = set(&a);
        for other in [&b[..], &dup[..]] {
            let live = Live::of(other);
            assert_eq!(hash(other, live), stored.hash(), "{other:?}");
            assert!(stored.matches(other, live), "{other:?}");
        }
        assert_eq!(set(&dup).attributes().len(), 3);
        assert!(set(&dup).attributes().contains(&KeyValue::new("side", "buy")));
        let different = [KeyValue::new("venue", "XNAS"), KeyValue::new("side", "sell"), KeyValue::new("qty", 100)];
        let live = Live::of(&different);
        assert_ne!(hash(&different, live), stored.hash());
        assert!(!stored.matches(&different, live));
        let fewer = &a[..2];
        assert!(!stored.matches(fewer, Live::of(fewer)));
        let empty = set(&[]);
        assert!(empty.matches(&[], Live::of(&[])) && empty.hash() == 0);
    }

    #[test]
    fn long_slices_resolve_the_same_way() {
        let long: Vec<KeyValue> = (0..70).map(|i| KeyValue::new(format!("k{}", i % 65), i)).collect();
        let set = AttributeSet::from_long(&long);
        assert_eq!(set.attributes().len(), 65);
        assert!(set.attributes().contains(&KeyValue::new("k0", 65)));
        let again = AttributeSet::from_long(&long.iter().rev().cloned().collect::<Vec<_>>());
        // Reversed, the other duplicate is last: a different set.
        assert!(!set.same_as(&again));
        assert!(set.same_as(&AttributeSet::from_long(&long)));
    }
}
