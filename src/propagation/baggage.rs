//! W3C Baggage: application-defined name/value pairs that travel with a request.

use std::fmt;

use super::{percent, trim_ows};

/// One baggage entry: a name, its value and its metadata (the member's properties, opaque).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct BaggageEntry {
    name: Box<str>,
    value: Box<str>,
    metadata: Box<str>,
    /// The bytes this entry takes in the header (`name=value;metadata`, value encoded).
    encoded_len: usize,
}

impl BaggageEntry {
    /// The name (an HTTP token: letters, digits and ``!#$%&'*+-.^_`|~``).
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The value, decoded (any UTF-8).
    #[must_use]
    pub fn value(&self) -> &str {
        &self.value
    }

    /// The properties as sent after the value, `;`-separated without spaces (`""` when none).
    #[must_use]
    pub fn metadata(&self) -> &str {
        &self.metadata
    }
}

/// W3C Baggage: a set of entries, one value per name, in the order they were first added.
///
/// Bounded by [`MAX_ENTRIES`](Baggage::MAX_ENTRIES) entries,
/// [`MAX_ENTRY_BYTES`](Baggage::MAX_ENTRY_BYTES) per entry and
/// [`MAX_HEADER_BYTES`](Baggage::MAX_HEADER_BYTES) in all, counted as the `baggage` header
/// would carry them. Values are percent-encoded on the wire, so they may be any text.
///
/// ```
/// use nanotel::propagation::Baggage;
///
/// let mut baggage = Baggage::new();
/// baggage.insert("userId", "Amélie").unwrap();
/// baggage.insert_with_metadata("serverNode", "DF 28", "ttl=30").unwrap();
/// assert_eq!(baggage.to_header(), "userId=Am%C3%A9lie,serverNode=DF%2028;ttl=30");
/// assert_eq!(Baggage::parse(&baggage.to_header()), baggage);
/// ```
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Baggage {
    entries: Vec<BaggageEntry>,
    /// The length of [`Baggage::to_header`], kept up to date to check the limit cheaply.
    header_len: usize,
}

/// Why an entry could not be added to a [`Baggage`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum BaggageError {
    /// The name is empty or not an HTTP token.
    InvalidName,
    /// The metadata is not a `;`-separated list of `key` or `key=value` properties.
    InvalidMetadata,
    /// The entry alone would take more than [`Baggage::MAX_ENTRY_BYTES`] in the header.
    EntryTooLarge,
    /// The baggage already holds [`Baggage::MAX_ENTRIES`] entries.
    TooManyEntries,
    /// The header would grow beyond [`Baggage::MAX_HEADER_BYTES`].
    TooLarge,
}

impl fmt::Display for BaggageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BaggageError::InvalidName => "baggage name is empty or not an HTTP token",
            BaggageError::InvalidMetadata => "baggage metadata is not a `;`-separated list of `key` or `key=value`",
            BaggageError::EntryTooLarge => "baggage entry would take more than 4096 bytes",
            BaggageError::TooManyEntries => "baggage already holds 64 entries",
            BaggageError::TooLarge => "baggage header would exceed 8192 bytes",
        })
    }
}

impl std::error::Error for BaggageError {}

impl Baggage {
    /// The most entries a baggage holds: W3C asks that up to 64 be propagated.
    pub const MAX_ENTRIES: usize = 64;
    /// The most bytes one entry may take in the header.
    pub const MAX_ENTRY_BYTES: usize = 4096;
    /// The most bytes the whole header may take: W3C asks that up to 8192 be propagated.
    pub const MAX_HEADER_BYTES: usize = 8192;

    /// An empty baggage.
    #[must_use]
    pub fn new() -> Self {
        Baggage::default()
    }

    /// Parses a `baggage` header value, keeping every valid member that fits the limits.
    ///
    /// Members are `name=value` followed by optional `;property` parts, separated by `,`, with
    /// optional spaces and tabs around `,`, `;` and `=`. A malformed member (bad name, a value with
    /// characters that should have been percent-encoded, a bad `%` escape, a bad property) is
    /// skipped, as is one that would break a limit. When a name repeats, the last value wins.
    ///
    /// ```
    /// use nanotel::propagation::Baggage;
    ///
    /// let baggage = Baggage::parse("userId=Am%C3%A9lie, bad name=1, isProduction = false ;ttl=60");
    /// assert_eq!(baggage.get("userId"), Some("Amélie"));
    /// assert_eq!(baggage.get("isProduction"), Some("false"));
    /// assert_eq!(baggage.iter().last().unwrap().metadata(), "ttl=60");
    /// assert_eq!(baggage.len(), 2);
    /// ```
    #[must_use]
    pub fn parse(header: &str) -> Baggage {
        let mut baggage = Baggage::new();
        baggage.add_header_line(header.as_bytes());
        baggage
    }

    /// Adds the members of one more header line: several `baggage` lines form one list, and the
    /// limits apply to them together.
    pub(crate) fn add_header_line(&mut self, line: &[u8]) {
        for member in line.split(|&b| b == b',') {
            if let Some(entry) = parse_member(trim_ows(member)) {
                // A member beyond the limits is dropped whole; later smaller ones may still fit.
                let _ = self.put(entry);
            }
        }
    }

    /// The number of entries.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no entries.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The value of `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.entry(name).map(BaggageEntry::value)
    }

    /// The entry for `name`, if present.
    #[must_use]
    pub fn entry(&self, name: &str) -> Option<&BaggageEntry> {
        self.entries.iter().find(|entry| &*entry.name == name)
    }

    /// The entries, in the order their names were first added.
    pub fn iter(&self) -> impl Iterator<Item = &BaggageEntry> {
        self.entries.iter()
    }

    /// Sets `name` to `value` with no metadata; see
    /// [`insert_with_metadata`](Baggage::insert_with_metadata).
    ///
    /// # Errors
    ///
    /// A [`BaggageError`] when `name` is not a token or `value` cannot travel in a `baggage`
    /// header.
    pub fn insert(&mut self, name: &str, value: &str) -> Result<(), BaggageError> {
        self.insert_with_metadata(name, value, "")
    }

    /// Sets `name` to `value` with `metadata`, replacing any entry of that name in place.
    ///
    /// `name` must be an HTTP token; `metadata` a `;`-separated list of `key` or `key=value`
    /// properties (keys tokens, values printable ASCII without space, `"`, `,`, `;` or `\`),
    /// stored without the spaces around its separators. On error nothing changes.
    ///
    /// ```
    /// use nanotel::propagation::{Baggage, BaggageError};
    ///
    /// let mut baggage = Baggage::new();
    /// baggage.insert_with_metadata("k", "v", "secret ; ttl = 1").unwrap();
    /// assert_eq!(baggage.entry("k").unwrap().metadata(), "secret;ttl=1");
    /// assert_eq!(baggage.insert("not a token", "v"), Err(BaggageError::InvalidName));
    /// assert_eq!(baggage.insert_with_metadata("k", "v", "a b"), Err(BaggageError::InvalidMetadata));
    /// ```
    ///
    /// # Errors
    ///
    /// A [`BaggageError`] when `name` is not a token, or `value` or `metadata` cannot travel in a
    /// `baggage` header.
    pub fn insert_with_metadata(&mut self, name: &str, value: &str, metadata: &str) -> Result<(), BaggageError> {
        if !is_token(name.as_bytes()) {
            return Err(BaggageError::InvalidName);
        }
        let metadata = normalize_properties(metadata.as_bytes()).ok_or(BaggageError::InvalidMetadata)?;
        self.put(new_entry(name, value.into(), metadata))
    }

    /// Removes `name`, returning its entry.
    pub fn remove(&mut self, name: &str) -> Option<BaggageEntry> {
        let index = self.entries.iter().position(|entry| &*entry.name == name)?;
        let entry = self.entries.remove(index);
        self.header_len = self.header_len.saturating_sub(entry.encoded_len + usize::from(!self.entries.is_empty()));
        Some(entry)
    }

    /// The header value: `name=value;metadata` members joined by `,` (empty when there are none).
    #[must_use]
    pub fn to_header(&self) -> String {
        let mut out = String::with_capacity(self.header_len);
        self.write_header(&mut out);
        out
    }

    /// Appends the header value (see [`to_header`](Baggage::to_header)) to `out`.
    pub fn write_header(&self, out: &mut String) {
        for (i, entry) in self.entries.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&entry.name);
            out.push('=');
            percent::encode(&entry.value, out);
            if !entry.metadata.is_empty() {
                out.push(';');
                out.push_str(&entry.metadata);
            }
        }
    }

    /// Adds or replaces an entry if the limits allow it.
    fn put(&mut self, entry: BaggageEntry) -> Result<(), BaggageError> {
        if entry.encoded_len > Self::MAX_ENTRY_BYTES {
            return Err(BaggageError::EntryTooLarge);
        }
        let existing = self.entries.iter().position(|e| e.name == entry.name);
        let header_len = match existing {
            Some(index) => self.header_len - self.entries[index].encoded_len + entry.encoded_len,
            None if self.entries.len() == Self::MAX_ENTRIES => return Err(BaggageError::TooManyEntries),
            None => self.header_len + usize::from(!self.entries.is_empty()) + entry.encoded_len,
        };
        if header_len > Self::MAX_HEADER_BYTES {
            return Err(BaggageError::TooLarge);
        }
        self.header_len = header_len;
        match existing {
            Some(index) => self.entries[index] = entry,
            None => self.entries.push(entry),
        }
        Ok(())
    }
}

fn new_entry(name: &str, value: Box<str>, metadata: String) -> BaggageEntry {
    let metadata_len = if metadata.is_empty() { 0 } else { 1 + metadata.len() };
    let encoded_len = name.len() + 1 + percent::encoded_len(&value) + metadata_len;
    BaggageEntry { name: name.into(), value, metadata: metadata.into(), encoded_len }
}

/// One received member (without surrounding whitespace); `None` if it is blank or malformed.
fn parse_member(member: &[u8]) -> Option<BaggageEntry> {
    // Checked before decoding, so a huge member costs no allocation. Whitespace and escapes only
    // shrink on the way in, except invalid UTF-8 becoming U+FFFD; `put` checks the final size.
    if member.is_empty() || member.len() > Baggage::MAX_ENTRY_BYTES {
        return None;
    }
    let (pair, properties) = match member.iter().position(|&b| b == b';') {
        Some(semicolon) => (&member[..semicolon], &member[semicolon + 1..]),
        None => (member, &b""[..]),
    };
    let equals = pair.iter().position(|&b| b == b'=')?;
    let name = trim_ows(&pair[..equals]);
    if !is_token(name) {
        return None;
    }
    let value = percent::decode(trim_ows(&pair[equals + 1..]))?;
    let metadata = normalize_properties(properties)?;
    // A token is ASCII, so this is the name unchanged.
    Some(new_entry(&String::from_utf8_lossy(name), value.into(), metadata))
}

/// `key` or `key=value` properties separated by `;`, rewritten without whitespace around the
/// separators; `None` if one is malformed. Empty properties (as in `a;;b` or a trailing `;`) are
/// dropped. Property values are kept as sent: their meaning belongs to whoever set them.
fn normalize_properties(properties: &[u8]) -> Option<String> {
    let mut out = String::new();
    for property in properties.split(|&b| b == b';') {
        let property = trim_ows(property);
        if property.is_empty() {
            continue;
        }
        let (key, value) = match property.iter().position(|&b| b == b'=') {
            Some(equals) => (trim_ows(&property[..equals]), Some(trim_ows(&property[equals + 1..]))),
            None => (property, None),
        };
        if !is_token(key) || !value.is_none_or(|value| value.iter().all(|&b| percent::is_value_octet(b))) {
            return None;
        }
        if !out.is_empty() {
            out.push(';');
        }
        // Both were checked to be ASCII.
        out.push_str(&String::from_utf8_lossy(key));
        if let Some(value) = value {
            out.push('=');
            out.push_str(&String::from_utf8_lossy(value));
        }
    }
    Some(out)
}

/// An RFC 9110 token: one or more of letters, digits and ``!#$%&'*+-.^_`|~``.
fn is_token(text: &[u8]) -> bool {
    !text.is_empty()
        && text.iter().all(|&b| {
            b.is_ascii_alphanumeric()
                || matches!(b, b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.' | b'^' | b'_')
                || matches!(b, b'`' | b'|' | b'~')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(baggage: &Baggage) -> Vec<(&str, &str, &str)> {
        baggage.iter().map(|e| (e.name(), e.value(), e.metadata())).collect()
    }

    #[test]
    fn parses_the_w3c_example() {
        let baggage = Baggage::parse("userId=Am%C3%A9lie,serverNode=DF%2028,isProduction=false");
        assert_eq!(
            entries(&baggage),
            [("userId", "Amélie", ""), ("serverNode", "DF 28", ""), ("isProduction", "false", "")]
        );
        assert_eq!(baggage.to_header(), "userId=Am%C3%A9lie,serverNode=DF%2028,isProduction=false");
    }

    #[test]
    fn whitespace_around_separators_is_ignored() {
        let baggage = Baggage::parse(" key1 = value1 ; p1 ; p2 = v2 ,\tkey2=value2\t");
        assert_eq!(entries(&baggage), [("key1", "value1", "p1;p2=v2"), ("key2", "value2", "")]);
    }

    #[test]
    fn values_may_hold_equals_signs_and_be_empty() {
        let baggage = Baggage::parse("a=b=c,empty=");
        assert_eq!(entries(&baggage), [("a", "b=c", ""), ("empty", "", "")]);
    }

    #[test]
    fn malformed_members_are_skipped() {
        let header = "ok=1,noequals,=novalue,bad name=1,sp=a b,q=\"x\",esc=%zz,esc2=%4,prop=1;bad prop,\
                      prop2=1;k=a b,utf=é,ok2=2";
        assert_eq!(entries(&Baggage::parse(header)), [("ok", "1", ""), ("ok2", "2", "")]);
        assert!(Baggage::parse("").is_empty());
        assert!(Baggage::parse(" , ,").is_empty());
    }

    #[test]
    fn undecodable_bytes_become_replacement_characters() {
        assert_eq!(Baggage::parse("k=%FF").get("k"), Some("\u{FFFD}"));
    }

    #[test]
    fn a_repeated_name_keeps_the_last_value_in_the_first_place() {
        let baggage = Baggage::parse("a=1,b=2,a=3");
        assert_eq!(entries(&baggage), [("a", "3", ""), ("b", "2", "")]);
        assert_eq!(baggage.header_len, baggage.to_header().len());
    }

    #[test]
    fn at_most_64_entries() {
        let header: Vec<String> = (0..70).map(|i| format!("k{i}={i}")).collect();
        let baggage = Baggage::parse(&header.join(","));
        assert_eq!(baggage.len(), Baggage::MAX_ENTRIES);
        assert_eq!(baggage.get("k63"), Some("63"));
        assert_eq!(baggage.get("k64"), None);
        let mut full = baggage.clone();
        assert_eq!(full.insert("more", "1"), Err(BaggageError::TooManyEntries));
        assert_eq!(full, baggage, "a failed insert changes nothing");
        assert_eq!(full.insert("k0", "replaced"), Ok(()), "replacing adds no entry");
    }

    #[test]
    fn entry_and_header_byte_limits() {
        let mut baggage = Baggage::new();
        let name = "k";
        // `k=` + value is exactly the limit.
        let value = "v".repeat(Baggage::MAX_ENTRY_BYTES - 2);
        assert_eq!(baggage.insert(name, &value), Ok(()));
        assert_eq!(baggage.insert(name, &format!("{value}v")), Err(BaggageError::EntryTooLarge));
        // Encoding counts: one `é` is six bytes on the wire.
        assert_eq!(baggage.insert(name, &"é".repeat(700)), Err(BaggageError::EntryTooLarge));
        // A second entry of the same size would need 8193 bytes with the comma; one byte less fits.
        assert_eq!(baggage.insert("l", &value), Err(BaggageError::TooLarge));
        assert_eq!(baggage.insert("l", &value[1..]), Ok(()));
        assert_eq!(baggage.to_header().len(), Baggage::MAX_HEADER_BYTES);
        assert_eq!(baggage.insert("m", ""), Err(BaggageError::TooLarge));
        baggage.remove("l");
        assert_eq!(baggage.to_header().len(), Baggage::MAX_ENTRY_BYTES);
        assert_eq!(baggage.header_len, baggage.to_header().len());
    }

    #[test]
    fn parse_drops_whole_members_beyond_the_byte_limits() {
        let big = format!("big={}", "v".repeat(Baggage::MAX_ENTRY_BYTES));
        let baggage = Baggage::parse(&format!("a=1,{big},b=2"));
        assert_eq!(entries(&baggage), [("a", "1", ""), ("b", "2", "")]);

        let member = |i: usize| format!("k{i}={}", "v".repeat(2000 - 3));
        let header: Vec<String> = (0..5).map(member).collect();
        let baggage = Baggage::parse(&format!("{},small=1", header.join(",")));
        assert_eq!(baggage.len(), 5, "four 2000-byte members fit, the fifth does not, `small` does");
        assert_eq!(baggage.get("small"), Some("1"));
        assert!(baggage.to_header().len() <= Baggage::MAX_HEADER_BYTES);
    }

    #[test]
    fn metadata_is_validated_and_normalized() {
        let mut baggage = Baggage::new();
        baggage.insert_with_metadata("k", "v", " a ;; b = c ;").unwrap();
        assert_eq!(baggage.to_header(), "k=v;a;b=c");
        for bad in ["a b", "=c", "k=a,b", "k=\"q\"", "é"] {
            assert_eq!(baggage.insert_with_metadata("k", "v", bad), Err(BaggageError::InvalidMetadata), "{bad:?}");
        }
    }

    #[test]
    fn remove_keeps_the_length_right() {
        let mut baggage = Baggage::parse("a=1,b=2,c=3");
        assert_eq!(baggage.remove("b").map(|e| e.value().to_owned()).as_deref(), Some("2"));
        assert_eq!(baggage.header_len, baggage.to_header().len());
        assert_eq!(baggage.remove("x"), None);
        baggage.remove("a");
        baggage.remove("c");
        assert!(baggage.is_empty());
        assert_eq!(baggage.header_len, 0);
    }

    #[test]
    fn tokens() {
        assert!(is_token(b"Az09!#$%&'*+-.^_`|~"));
        for bad in [&b""[..], b"a b", b"a,b", b"a;b", b"a=b", b"(a)", b"\"", b"\xc3\xa9"] {
            assert!(!is_token(bad), "{bad:?}");
        }
    }
}
