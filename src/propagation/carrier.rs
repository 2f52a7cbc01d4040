//! Header carriers: where propagators write and read their headers.

use std::collections::HashMap;

use http::header::{HeaderMap, HeaderName, HeaderValue};

/// Somewhere a propagator can write headers: outgoing request headers, a message's metadata.
///
/// Propagators only ever write lowercase names (`traceparent`, `tracestate`, `baggage`, `b3`,
/// `x-b3-traceid`, `x-b3-spanid`, `x-b3-sampled`) with values of visible ASCII.
pub trait Injector {
    /// Sets the header `name` to `value`, replacing any value it had.
    fn set(&mut self, name: &str, value: &str);

    /// Removes the header `name`, if present. Propagators call it for a header they have nothing
    /// to put in (an empty trace state or baggage), so that a carrier reused from an earlier
    /// request does not pass on that request's value.
    fn remove(&mut self, name: &str);
}

/// Somewhere a propagator can read headers from: incoming request headers, a message's metadata.
///
/// Header names are case-insensitive (RFC 9110), so implementations match `name` ignoring ASCII
/// case. A header may occur several times; a propagator needs every occurrence, in order, because
/// `tracestate` and `baggage` lines are combined and two `traceparent` lines make both invalid.
pub trait Extractor {
    /// Calls `visit` with each value of the header `name`, in the order received.
    ///
    /// Values are bytes because HTTP allows header values that are not UTF-8; the propagators'
    /// grammars are ASCII, so they reject such values rather than guess at them.
    fn for_each_value(&self, name: &str, visit: &mut dyn FnMut(&[u8]));
}

/// Keys are header names; a name is looked up ignoring ASCII case.
///
/// The exact (usually lowercase) name is tried first; the map is scanned only when that misses,
/// and a map holding the same name in several cases gives the variants in an unspecified order.
///
/// ```
/// use std::collections::HashMap;
/// use nanotel::propagation::Extractor;
///
/// let headers = HashMap::from([("TraceState".to_owned(), "foo=1".to_owned())]);
/// let mut seen = Vec::new();
/// headers.for_each_value("tracestate", &mut |value| seen.push(value.to_vec()));
/// assert_eq!(seen, [b"foo=1".to_vec()]);
/// ```
impl<S: std::hash::BuildHasher> Extractor for HashMap<String, String, S> {
    fn for_each_value(&self, name: &str, visit: &mut dyn FnMut(&[u8])) {
        if let Some(value) = self.get(name) {
            visit(value.as_bytes());
        }
        for (key, value) in self {
            if key != name && key.eq_ignore_ascii_case(name) {
                visit(value.as_bytes());
            }
        }
    }
}

/// Sets the entry whose key equals `name` ignoring ASCII case, reusing its string's buffer, so
/// injecting into a map that is reused for every request does not allocate once it holds the
/// headers; a new key is stored as `name` is spelled.
///
/// ```
/// use std::collections::HashMap;
/// use nanotel::propagation::Injector;
///
/// let mut headers = HashMap::from([("Baggage".to_owned(), "old=1".to_owned())]);
/// headers.set("baggage", "new=2");
/// assert_eq!(headers["Baggage"], "new=2");
/// ```
impl<S: std::hash::BuildHasher> Injector for HashMap<String, String, S> {
    fn set(&mut self, name: &str, value: &str) {
        if let Some(existing) = self.get_mut(name) {
            existing.clear();
            existing.push_str(value);
            return;
        }
        if let Some((_, existing)) = self.iter_mut().find(|(key, _)| key.eq_ignore_ascii_case(name)) {
            existing.clear();
            existing.push_str(value);
            return;
        }
        self.insert(name.to_owned(), value.to_owned());
    }

    fn remove(&mut self, name: &str) {
        // A scan, not a hash lookup: the key may be spelled in any case.
        self.retain(|key, _| !key.eq_ignore_ascii_case(name));
    }
}

/// Values that are not valid header text, and names that are not valid header names, are not
/// set: a header map cannot hold them. The propagators never produce either.
///
/// ```
/// use http::HeaderMap;
/// use nanotel::propagation::Injector;
///
/// let mut headers = HeaderMap::new();
/// headers.set("baggage", "k=v");
/// headers.set("baggage", "k=w");
/// assert_eq!(headers.get_all("baggage").iter().count(), 1);
/// assert_eq!(headers["baggage"], "k=w");
/// ```
impl Injector for HeaderMap {
    /// A header the map holds once already keeps its name (one allocation, the value's copy; until
    /// session 42 the name was copied too); a new one, or one held several times, is inserted
    /// afresh, replacing every value it had.
    fn set(&mut self, name: &str, value: &str) {
        let Ok(value) = HeaderValue::from_str(value) else { return };
        let mut held = self.get_all(name).iter();
        if let (Some(_), None) = (held.next(), held.next()) {
            if let Some(existing) = self.get_mut(name) {
                *existing = value;
            }
            return;
        }
        if let Ok(name) = HeaderName::from_bytes(name.as_bytes()) {
            self.insert(name, value);
        }
    }

    fn remove(&mut self, name: &str) {
        HeaderMap::remove(self, name);
    }
}

/// Every value of a header, in order (a header map matches names ignoring case already).
impl Extractor for HeaderMap {
    fn for_each_value(&self, name: &str, visit: &mut dyn FnMut(&[u8])) {
        for value in self.get_all(name) {
            visit(value.as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(carrier: &dyn Extractor, name: &str) -> Vec<String> {
        let mut seen = Vec::new();
        carrier.for_each_value(name, &mut |value| seen.push(String::from_utf8_lossy(value).into_owned()));
        seen
    }

    #[test]
    fn hash_map_matches_names_ignoring_case() {
        let mut map = HashMap::new();
        map.insert("TRACEPARENT".to_owned(), "a".to_owned());
        assert_eq!(collect(&map, "traceparent"), ["a"]);
        map.insert("traceparent".to_owned(), "b".to_owned());
        // The exact spelling comes first; both count, so a propagator sees two headers.
        assert_eq!(collect(&map, "traceparent"), ["b", "a"]);
        assert!(collect(&map, "tracestate").is_empty());
    }

    #[test]
    fn hash_map_set_replaces_whatever_the_case() {
        let mut map: HashMap<String, String> = HashMap::new();
        map.set("traceparent", "a");
        map.set("traceparent", "b");
        assert_eq!(map.len(), 1);
        assert_eq!(map["traceparent"], "b");
        let mut map = HashMap::from([("TraceParent".to_owned(), "a".to_owned())]);
        map.set("traceparent", "c");
        assert_eq!(map.len(), 1);
        assert_eq!(map["TraceParent"], "c");
    }

    #[test]
    fn header_map_gives_every_line_in_order() {
        let mut headers = HeaderMap::new();
        headers.append("tracestate", HeaderValue::from_static("a=1"));
        headers.append("TraceState", HeaderValue::from_static("b=2"));
        headers.append("other", HeaderValue::from_static("c=3"));
        assert_eq!(collect(&headers, "tracestate"), ["a=1", "b=2"]);
        assert_eq!(collect(&headers, "TRACESTATE"), ["a=1", "b=2"]);
    }

    #[test]
    fn header_map_passes_bytes_that_are_not_utf8() {
        let mut headers = HeaderMap::new();
        headers.insert("baggage", HeaderValue::from_bytes(b"k=\xff").unwrap());
        let mut seen = Vec::new();
        headers.for_each_value("baggage", &mut |value| seen.push(value.to_vec()));
        assert_eq!(seen, [b"k=\xff".to_vec()]);
    }

    #[test]
    fn header_map_set_skips_what_it_cannot_hold() {
        let mut headers = HeaderMap::new();
        headers.set("bad name", "v");
        headers.set("baggage", "line\nbreak");
        assert!(headers.is_empty());
        headers.set("Baggage", "k=v");
        assert_eq!(headers["baggage"], "k=v");
    }

    #[test]
    fn remove_ignores_case() {
        let mut map = HashMap::from([("TraceState".to_owned(), "a=1".to_owned()), ("x".to_owned(), "y".to_owned())]);
        Injector::remove(&mut map, "tracestate");
        assert_eq!(map.len(), 1);
        let mut headers = HeaderMap::new();
        headers.append("tracestate", HeaderValue::from_static("a=1"));
        headers.append("tracestate", HeaderValue::from_static("b=2"));
        Injector::remove(&mut headers, "TRACESTATE");
        assert!(headers.is_empty());
    }
}
