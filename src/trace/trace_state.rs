//! W3C `tracestate`: vendor key-value pairs carried beside `traceparent`.

use std::fmt;
use std::sync::Arc;

use crate::header_text::trim_ows;

/// One `key=value` list member.
type Entry = (Box<str>, Box<str>);

/// The longest key or value, in bytes.
const MAX_LEN: usize = 256;

/// The vendor entries of a W3C `tracestate`, in order (most recently updated first).
///
/// Empty in the common case, and then free to clone; otherwise shared, so cloning it into a child
/// span is one reference-count increment. Like every trace state, it is immutable: [`insert`] and
/// [`remove`] return a new one.
///
/// Keys follow the W3C grammar: a simple key (`[a-z0-9][a-z0-9_\-*/]{0,255}`) or a multi-tenant
/// key `tenant@system` (`[a-z0-9][a-z0-9_\-*/]{0,240}` `@` `[a-z][a-z0-9_\-*/]{0,13}`). Values are
/// 1 to 256 printable ASCII characters other than `,` and `=`, not ending in a space.
///
/// ```
/// use nanotel::trace::TraceState;
///
/// let state = TraceState::parse("rojo=00f067aa0ba902b7, congo=t61rcWkgMzE").unwrap();
/// assert_eq!(state.get("congo"), Some("t61rcWkgMzE"));
/// let state = state.insert("congo", "ucfJifl5GOE").unwrap();
/// assert_eq!(state.to_header(), "congo=ucfJifl5GOE,rojo=00f067aa0ba902b7");
/// ```
///
/// [`insert`]: TraceState::insert
/// [`remove`]: TraceState::remove
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct TraceState {
    entries: Option<Arc<[Entry]>>,
}

/// Drops a trace state that has entries (by value: in registers).
#[inline(never)]
fn drop_entries(state: TraceState) {
    drop(state);
}

/// Why a `tracestate` value, key or value was rejected. A received header with any of these
/// problems is discarded as a whole.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum TraceStateError {
    /// A list member is not `key=value`.
    InvalidMember,
    /// A key does not follow the key grammar (see [`TraceState`]).
    InvalidKey,
    /// A value does not follow the value grammar (see [`TraceState`]).
    InvalidValue,
    /// The same key appears twice.
    DuplicateKey,
    /// More than [`TraceState::MAX_MEMBERS`] members.
    TooManyMembers,
}

impl fmt::Display for TraceStateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TraceStateError::InvalidMember => "tracestate member is not `key=value`",
            TraceStateError::InvalidKey => {
                "tracestate key is not a lowercase `key` or `tenant@system` of the allowed characters and lengths"
            }
            TraceStateError::InvalidValue => {
                "tracestate value is not 1-256 printable ASCII characters without `,` or `=` and not ending in a space"
            }
            TraceStateError::DuplicateKey => "tracestate key appears more than once",
            TraceStateError::TooManyMembers => "tracestate has more than 32 members",
        })
    }
}

impl std::error::Error for TraceStateError {}

impl TraceState {
    /// No entries, as a constant.
    pub(crate) const EMPTY: TraceState = TraceState { entries: None };

    /// The most members a `tracestate` may hold.
    pub const MAX_MEMBERS: usize = 32;

    /// Drops the trace state with its entries, if any, let go of out of line: dropped inline,
    /// the last owner's call that frees them is given the address of what is dropped, which then
    /// has to be in memory (see `LazyContext`'s drop).
    #[inline(always)]
    pub(crate) fn drop_out_of_line(self) {
        if self.entries.is_some() {
            drop_entries(self);
        }
    }

    /// Parses a `tracestate` header value.
    ///
    /// Members are separated by `,` with optional spaces and tabs around them; empty members are
    /// skipped. An invalid key or value, a repeated key or more than 32 members make the whole
    /// header invalid: the caller then carries on with an empty trace state.
    ///
    /// ```
    /// use nanotel::trace::{TraceState, TraceStateError};
    ///
    /// let state = TraceState::parse("foo=1 \t, ,bar@baz=2").unwrap();
    /// assert_eq!(state.get("bar@baz"), Some("2"));
    /// assert_eq!(TraceState::parse("foo=bar=baz"), Err(TraceStateError::InvalidValue));
    /// assert_eq!(TraceState::parse("FOO=1"), Err(TraceStateError::InvalidKey));
    /// ```
    ///
    /// # Errors
    ///
    /// A [`TraceStateError`] when a member, key or value is invalid, a key repeats, or there are
    /// more than 32 members.
    pub fn parse(header: &str) -> Result<TraceState, TraceStateError> {
        let mut parser = Parser::default();
        parser.add_line(header.as_bytes());
        parser.finish()
    }

    fn from_entries(entries: Vec<Entry>) -> TraceState {
        TraceState { entries: (!entries.is_empty()).then(|| entries.into()) }
    }

    fn entries(&self) -> &[Entry] {
        self.entries.as_deref().unwrap_or_default()
    }

    /// Whether there are no entries.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.as_ref().is_none_or(|e| e.is_empty())
    }

    /// The number of entries.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries().len()
    }

    /// The value of `key`, if present.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries().iter().find(|(k, _)| &**k == key).map(|(_, v)| &**v)
    }

    /// The entries, `(key, value)`, most recently updated first.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries().iter().map(|(k, v)| (&**k, &**v))
    }

    /// A trace state with `key` set to `value` and moved to the front, as W3C asks of an updated
    /// or added entry; the others keep their order. When that would make 33 entries, the last one
    /// is dropped. An invalid key or value is an error (and changes nothing).
    ///
    /// ```
    /// use nanotel::trace::TraceState;
    ///
    /// let state = TraceState::default().insert("a", "1").unwrap().insert("b", "2").unwrap();
    /// assert_eq!(state.to_header(), "b=2,a=1");
    /// assert!(state.insert("a", "no,commas").is_err());
    /// ```
    ///
    /// # Errors
    ///
    /// A [`TraceStateError`] when `key` or `value` is invalid.
    pub fn insert(&self, key: &str, value: &str) -> Result<TraceState, TraceStateError> {
        check_key(key.as_bytes())?;
        check_value(value.as_bytes())?;
        let mut entries = Vec::with_capacity((self.len() + 1).min(Self::MAX_MEMBERS));
        entries.push((Box::from(key), Box::from(value)));
        let others = self.entries().iter().filter(|(k, _)| &**k != key);
        entries.extend(others.take(Self::MAX_MEMBERS - 1).cloned());
        Ok(TraceState::from_entries(entries))
    }

    /// A trace state without `key` (the same entries when it is absent).
    #[must_use]
    pub fn remove(&self, key: &str) -> TraceState {
        if self.get(key).is_none() {
            return self.clone();
        }
        TraceState::from_entries(self.entries().iter().filter(|(k, _)| &**k != key).cloned().collect())
    }

    /// The header value: `key=value` pairs joined by commas (empty when there are none).
    #[must_use]
    pub fn to_header(&self) -> String {
        let mut header = String::new();
        self.write_header(&mut header);
        header
    }

    /// Appends the header value (see [`to_header`](TraceState::to_header)) to `out`.
    pub fn write_header(&self, out: &mut String) {
        for (i, (key, value)) in self.entries().iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(key);
            out.push('=');
            out.push_str(value);
        }
    }
}

/// Parses the lines of a received `tracestate` as one list, as if they were joined by `,`
/// (RFC 9110), without joining them. The first error sticks: one bad member discards them all.
#[derive(Default)]
pub(crate) struct Parser {
    entries: Vec<Entry>,
    error: Option<TraceStateError>,
}

impl Parser {
    /// Adds the members of one header line.
    pub(crate) fn add_line(&mut self, line: &[u8]) {
        for member in line.split(|&b| b == b',') {
            if self.error.is_none() {
                self.error = self.add_member(trim_ows(member)).err();
            }
        }
    }

    /// The trace state of every line so far, or the first problem found.
    pub(crate) fn finish(self) -> Result<TraceState, TraceStateError> {
        match self.error {
            Some(error) => Err(error),
            None => Ok(TraceState::from_entries(self.entries)),
        }
    }

    /// Adds one member (already without surrounding whitespace).
    fn add_member(&mut self, member: &[u8]) -> Result<(), TraceStateError> {
        if member.is_empty() {
            return Ok(());
        }
        let equals = member.iter().position(|&b| b == b'=').ok_or(TraceStateError::InvalidMember)?;
        let (key, value) = (&member[..equals], &member[equals + 1..]);
        check_key(key)?;
        check_value(value)?;
        if self.entries.len() == TraceState::MAX_MEMBERS {
            return Err(TraceStateError::TooManyMembers);
        }
        if self.entries.iter().any(|(k, _)| k.as_bytes() == key) {
            return Err(TraceStateError::DuplicateKey);
        }
        // Both were checked to be ASCII.
        let text = |bytes: &[u8]| Box::from(String::from_utf8_lossy(bytes));
        self.entries.push((text(key), text(value)));
        Ok(())
    }
}

/// `[a-z0-9][a-z0-9_\-*/]{0,255}` or `[a-z0-9][a-z0-9_\-*/]{0,240}@[a-z][a-z0-9_\-*/]{0,13}`.
fn check_key(key: &[u8]) -> Result<(), TraceStateError> {
    let is_key_char = |b: &u8| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'*' | b'/');
    let part_ok = |part: &[u8], max: usize, first_ok: fn(&u8) -> bool| {
        !part.is_empty() && part.len() <= max && first_ok(&part[0]) && part.iter().all(is_key_char)
    };
    let ok = match key.iter().position(|&b| b == b'@') {
        None => part_ok(key, MAX_LEN, |b| b.is_ascii_lowercase() || b.is_ascii_digit()),
        Some(at) => {
            let (tenant, system) = (&key[..at], &key[at + 1..]);
            part_ok(tenant, 241, |b| b.is_ascii_lowercase() || b.is_ascii_digit())
                && part_ok(system, 14, u8::is_ascii_lowercase)
        }
    };
    if ok {
        Ok(())
    } else {
        Err(TraceStateError::InvalidKey)
    }
}

/// 1 to 256 of 0x20-0x7E except `,` and `=`, the last not a space.
fn check_value(value: &[u8]) -> Result<(), TraceStateError> {
    let ok = matches!(value.last(), Some(&last) if last != b' ')
        && value.len() <= MAX_LEN
        && value.iter().all(|&b| matches!(b, 0x20..=0x7e) && b != b',' && b != b'=');
    if ok {
        Ok(())
    } else {
        Err(TraceStateError::InvalidValue)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(state: &TraceState) -> Vec<&str> {
        state.iter().map(|(k, _)| k).collect()
    }

    #[test]
    fn empty_and_blank_headers_are_empty_states() {
        for header in ["", " ", ",", " \t, ,\t"] {
            let state = TraceState::parse(header).unwrap();
            assert!(state.is_empty(), "{header:?}");
            assert_eq!(state.len(), 0);
            assert_eq!(state, TraceState::default());
        }
    }

    #[test]
    fn whitespace_around_members_is_not_part_of_them() {
        let state = TraceState::parse("foo=1 \t , \t bar=2,\t \tbaz=3\t").unwrap();
        assert_eq!(state.to_header(), "foo=1,bar=2,baz=3");
        // Leading spaces after `=` belong to the value.
        assert_eq!(TraceState::parse("foo= 1").unwrap().get("foo"), Some(" 1"));
    }

    #[test]
    fn key_grammar() {
        let ok = ["a", "0a", "a-z0-9_-*/", "tenant@system", "0t@s", &"z".repeat(256)];
        for key in ok {
            assert_eq!(check_key(key.as_bytes()), Ok(()), "{key:?}");
        }
        let tenant_max = format!("{}@{}", "t".repeat(241), "v".repeat(14));
        assert_eq!(check_key(tenant_max.as_bytes()), Ok(()));
        let bad = [
            String::new(),
            "FOO".into(),
            "foo ".into(),
            "foo.bar".into(),
            "_a".into(),
            "foo@".into(),
            "@foo".into(),
            "foo@@bar".into(),
            "foo@bar@baz".into(),
            "t@0v".into(),
            "z".repeat(257),
            format!("{}@v", "t".repeat(242)),
            format!("t@{}", "v".repeat(15)),
            "é".into(),
        ];
        for key in bad {
            assert_eq!(check_key(key.as_bytes()), Err(TraceStateError::InvalidKey), "{key:?}");
        }
    }

    #[test]
    fn value_grammar() {
        let all: String = (0x20u8..=0x7e).filter(|b| *b != b',' && *b != b'=').map(char::from).collect();
        for value in [all.as_str(), "1", " x", &"v".repeat(256)] {
            assert_eq!(check_value(value.as_bytes()), Ok(()), "{value:?}");
        }
        for value in ["", "x ", "a,b", "a=b", "tab\there", "\u{7f}", "é", &"v".repeat(257)] {
            assert_eq!(check_value(value.as_bytes()), Err(TraceStateError::InvalidValue), "{value:?}");
        }
    }

    #[test]
    fn one_bad_member_discards_the_header() {
        assert_eq!(TraceState::parse("foo=1,bar"), Err(TraceStateError::InvalidMember));
        assert_eq!(TraceState::parse("foo@=1,bar=2"), Err(TraceStateError::InvalidKey));
        assert_eq!(TraceState::parse("foo=,bar=2"), Err(TraceStateError::InvalidValue));
        assert_eq!(TraceState::parse("foo=1,foo=1"), Err(TraceStateError::DuplicateKey));
        assert_eq!(TraceState::parse("foo=1,foo=2"), Err(TraceStateError::DuplicateKey));
    }

    #[test]
    fn at_most_32_members() {
        let members: Vec<String> = (1..=33).map(|i| format!("bar{i:02}={i:02}")).collect();
        let state = TraceState::parse(&members[..32].join(",")).unwrap();
        assert_eq!(state.len(), 32);
        assert_eq!(state.get("bar01"), Some("01"));
        assert_eq!(TraceState::parse(&members.join(",")), Err(TraceStateError::TooManyMembers));
        // Blank members do not count.
        assert_eq!(TraceState::parse(&members[..32].join(",,")).unwrap().len(), 32);
    }

    #[test]
    fn several_lines_are_one_list() {
        let parse = |lines: &[&str]| {
            let mut parser = Parser::default();
            lines.iter().for_each(|line| parser.add_line(line.as_bytes()));
            parser.finish()
        };
        let state = parse(&["foo=1,bar=2", "", "rojo=1,congo=2", "baz=3"]);
        assert_eq!(state.unwrap().to_header(), "foo=1,bar=2,rojo=1,congo=2,baz=3");
        assert_eq!(parse(&["foo=1", "foo=2"]), Err(TraceStateError::DuplicateKey));
        assert_eq!(parse(&["foo=1", "bad", "bar=2"]), Err(TraceStateError::InvalidMember));
    }

    #[test]
    fn insert_moves_the_key_to_the_front() {
        let state = TraceState::parse("a=1,b=2,c=3").unwrap();
        let updated = state.insert("b", "20").unwrap();
        assert_eq!(updated.to_header(), "b=20,a=1,c=3");
        assert_eq!(state.to_header(), "a=1,b=2,c=3", "the original is unchanged");
        assert_eq!(keys(&state.insert("d", "4").unwrap()), ["d", "a", "b", "c"]);
    }

    #[test]
    fn insert_validates_and_drops_the_rightmost_beyond_32() {
        let state = TraceState::default();
        assert_eq!(state.insert("A", "1"), Err(TraceStateError::InvalidKey));
        assert_eq!(state.insert("a", "x "), Err(TraceStateError::InvalidValue));
        let full = (1..=32).fold(TraceState::default(), |s, i| s.insert(&format!("k{i}"), "v").unwrap());
        assert_eq!(full.len(), 32);
        let more = full.insert("new", "v").unwrap();
        assert_eq!(more.len(), 32);
        assert_eq!(more.iter().next(), Some(("new", "v")));
        assert_eq!(more.get("k1"), None, "the oldest (rightmost) entry is dropped");
        assert_eq!(full.insert("k1", "w").unwrap().len(), 32, "an update drops nothing");
    }

    #[test]
    fn remove() {
        let state = TraceState::parse("a=1,b=2").unwrap();
        assert_eq!(state.remove("a").to_header(), "b=2");
        assert_eq!(state.remove("x"), state);
        assert!(state.remove("a").remove("b").is_empty());
        assert_eq!(state.remove("a").remove("b"), TraceState::default());
    }
}
