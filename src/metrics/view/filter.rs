//! A view's attribute filter: the keys a stream keeps (an allow list) or removes (a deny list).
//!
//! A synchronous instrument's table applies it while resolving a slice, as a mask over the
//! caller's pairs (no copy; see `SeriesMap::record_kept`); observable instruments apply it to the
//! sets their callbacks report.

use crate::attributes::KeyValue;

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
            let mut set = attributes.to_vec();
            filter.retain(&mut set);
            set.iter().map(|kv| kv.key.as_str().to_owned()).collect::<Vec<_>>()
        };
        assert_eq!(keys(AttributeFilter::keep(["side", "venue"])), ["venue", "side"]);
        assert_eq!(keys(AttributeFilter::remove(["order.id"])), ["venue", "side"]);
        assert!(keys(AttributeFilter::keep(Vec::<String>::new())).is_empty());
        assert_eq!(keys(AttributeFilter::remove(Vec::<String>::new())).len(), 3);
    }
}
