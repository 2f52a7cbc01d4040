//! W3C `tracestate`: vendor key-value pairs carried beside `traceparent`.

use std::sync::Arc;

/// One `key=value` list member.
type Entry = (Box<str>, Box<str>);

/// The vendor entries of a W3C `tracestate`, in order (most recently updated first).
///
/// Empty in the common case, and then free to clone; otherwise shared, so cloning it into a child
/// span is one reference-count increment.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct TraceState {
    entries: Option<Arc<[Entry]>>,
}

impl TraceState {
    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.as_ref().is_none_or(|e| e.is_empty())
    }

    /// The header value: `key=value` pairs joined by commas (empty when there are none).
    pub fn to_header(&self) -> String {
        let mut header = String::new();
        for (i, (key, value)) in self.entries.iter().flat_map(|e| e.iter()).enumerate() {
            if i > 0 {
                header.push(',');
            }
            header.push_str(key);
            header.push('=');
            header.push_str(value);
        }
        header
    }
}
