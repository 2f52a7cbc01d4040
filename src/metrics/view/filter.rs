//! A view's attribute filter: the keys a stream keeps (an allow list) or removes (a deny list).
//!
//! On a record with an attribute slice, the pairs kept are cloned into a buffer on the stack (a
//! copy for static strings, a reference-count increment for shared ones) and that buffer is
//! resolved as the caller's slice would have been. The buffer sits at the same place at every
//! call from one call site, so the per-thread series cache recognises it as it recognises the
//! caller's slice. More than [`INLINE`] kept pairs are copied to the heap.

use smallvec::SmallVec;

use crate::attributes::KeyValue;

/// Kept pairs held on the stack; more are copied to the heap.
const INLINE: usize = 16;

/// Which attribute keys a stream keeps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct AttributeFilter {
    /// True: keep only `keys`; false: keep all but `keys`.
    allow: bool,
    keys: Box<[String]>,
}

impl AttributeFilter {
    pub(crate) fn keep<K: Into<String>>(keys: impl IntoIterator<Item = K>) -> Self {
        AttributeFilter { allow: true, keys: keys.into_iter().map(Into::into).collect() }
    }

    pub(crate) fn remove<K: Into<String>>(keys: impl IntoIterator<Item = K>) -> Self {
        AttributeFilter { allow: false, keys: keys.into_iter().map(Into::into).collect() }
    }

    /// Whether the stream keeps attributes with this key.
    pub(crate) fn keeps(&self, key: &str) -> bool {
        self.keys.iter().any(|k| k == key) == self.allow
    }

    /// Calls `f` with the pairs of `attributes` that the stream keeps, in their order.
    #[inline]
    pub(crate) fn with_kept<R>(&self, attributes: &[KeyValue], f: impl FnOnce(&[KeyValue]) -> R) -> R {
        let kept: SmallVec<[KeyValue; INLINE]> =
            attributes.iter().filter(|kv| self.keeps(kv.key.as_str())).cloned().collect();
        f(&kept)
    }

    /// Removes from `set` the pairs the stream does not keep.
    pub(crate) fn retain(&self, set: &mut Vec<KeyValue>) {
        set.retain(|kv| self.keeps(kv.key.as_str()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_and_deny_lists_keep_the_order_of_the_rest() {
        let attributes = [KeyValue::new("venue", "XNAS"), KeyValue::new("order.id", 7), KeyValue::new("side", "buy")];
        let keys = |filter: AttributeFilter| {
            filter.with_kept(&attributes, |kept| kept.iter().map(|kv| kv.key.as_str().to_owned()).collect::<Vec<_>>())
        };
        assert_eq!(keys(AttributeFilter::keep(["side", "venue"])), ["venue", "side"]);
        assert_eq!(keys(AttributeFilter::remove(["order.id"])), ["venue", "side"]);
        assert!(keys(AttributeFilter::keep(Vec::<String>::new())).is_empty());
        assert_eq!(keys(AttributeFilter::remove(Vec::<String>::new())).len(), 3);
    }
}
