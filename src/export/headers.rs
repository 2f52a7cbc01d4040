//! `OTEL_EXPORTER_OTLP_HEADERS`: extra HTTP headers sent with every export request.
//!
//! ```
//! use nanotel::internal::parse_headers;
//!
//! let parsed = parse_headers("Authorization=Bearer%20s3cr3t, x-tenant = blue");
//! assert_eq!(
//!     parsed.headers,
//!     [("authorization".to_owned(), "Bearer s3cr3t".to_owned()), ("x-tenant".to_owned(), "blue".to_owned())]
//! );
//! assert!(parsed.errors.is_empty());
//! ```

use std::fmt::Write as _;

use crate::config::SkippedEntries;

/// The headers taken from one `OTEL_EXPORTER_OTLP_HEADERS`-style value, and the entries skipped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParsedHeaders {
    /// Lowercased header names with their decoded values, in the order given. A name given twice
    /// appears twice, as HTTP allows.
    pub headers: Vec<(String, String)>,
    /// One message per distinct reason an entry was skipped, naming the entries by position and,
    /// where it is readable, by key, so that a mistake repeated along the list is one message.
    /// Values never appear in messages, since they are often credentials.
    pub errors: Vec<String>,
}

/// Parses a `key1=value1,key2=value2` header list.
///
/// Entries are split on `,` and each on its first `=`; spaces and tabs around keys and values are
/// trimmed before both are percent-decoded as UTF-8, so `%2C` and `%3D` carry commas and equals
/// signs. A key must be an HTTP token (RFC 9110) and is lowercased; a decoded value must be a
/// valid header value (no control characters other than tab). Empty entries are ignored; every
/// other unusable entry is skipped and described in [`ParsedHeaders::errors`] (entries skipped for
/// the same reason in one message), which callers should prefix with the variable's name when
/// they log it.
///
/// ```
/// use nanotel::internal::parse_headers;
///
/// let parsed = parse_headers("api-key=a%2Cb%3Dc,,broken,bad key=1,broken");
/// assert_eq!(parsed.headers, [("api-key".to_owned(), "a,b=c".to_owned())]);
/// assert_eq!(
///     parsed.errors,
///     [
///         "header entry 3 skipped: it has no '=' between a key and a value (as is entry 5)",
///         "header entry 4 skipped: the key \"bad\" is not a valid HTTP header name: ' ' follows (the rest is not shown)",
///     ]
/// );
/// ```
#[must_use]
pub fn parse_headers(value: &str) -> ParsedHeaders {
    let mut parsed = ParsedHeaders::default();
    let mut skipped = SkippedEntries::default();
    for (index, entry) in value.split(',').enumerate() {
        if trim(entry).is_empty() {
            continue;
        }
        match parse_entry(entry) {
            Ok(header) => parsed.headers.push(header),
            Err(reason) => skipped.add(index + 1, reason),
        }
    }
    parsed.errors = skipped.lines(|position, reason| format!("header entry {position} skipped: {reason}"));
    parsed
}

fn parse_entry(entry: &str) -> Result<(String, String), String> {
    let Some((raw_key, raw_value)) = entry.split_once('=') else {
        // The entry may be a bare credential pasted without its key, so it is not quoted.
        return Err("it has no '=' between a key and a value".to_owned());
    };
    let raw_key = trim(raw_key);
    let key = crate::percent::decode_text(raw_key).map_err(|why| format!("the key {} {why}", quoted(raw_key)))?;
    if key.is_empty() {
        return Err("the key is empty".to_owned());
    }
    if let Some(at) = key.find(|c: char| !c.is_ascii() || !is_tchar(c as u8)) {
        return Err(not_a_name(&key, at));
    }
    let key = key.to_ascii_lowercase();
    if is_connection_specific(&key) {
        return Err(format!("{} is a connection-specific header, which HTTP/2 (and so gRPC) forbids", quoted(&key)));
    }
    if is_the_exporters(&key) {
        return Err(format!("{} is set by the exporter itself", quoted(&key)));
    }
    let value =
        crate::percent::decode_text(trim(raw_value)).map_err(|why| format!("the value of {} {why}", quoted(&key)))?;
    if let Some(bad) = value.chars().find(|&c| c != '\t' && c.is_ascii_control()) {
        return Err(format!("the value of {} contains the control character {:?}", quoted(&key), bad));
    }
    Ok((key, value))
}

/// Whether `name` (lowercase) is a header of one HTTP/1 connection, which HTTP/2 forbids in a
/// request (RFC 9113, 8.2.2): h2 refuses the whole request, so over gRPC every export failed and
/// its healthy connection was dropped each time (until session 41); HTTP/1 clients strip them.
/// `te` is set by the gRPC client itself (to `trailers`, the one value HTTP/2 allows).
pub(crate) fn is_connection_specific(name: &str) -> bool {
    ["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te"].contains(&name)
}

/// Whether `name` (lowercase) is a header the exporter sets from the request itself (its body's
/// type, encoding and length, the host, gRPC's own `grpc-*`): given again, it went beside the
/// exporter's, two values where one is allowed (until session 41).
pub(crate) fn is_the_exporters(name: &str) -> bool {
    ["content-type", "content-encoding", "content-length", "host"].contains(&name) || name.starts_with("grpc-")
}

/// Trims only spaces and tabs: other whitespace is not something the format allows around entries.
fn trim(text: &str) -> &str {
    text.trim_matches([' ', '\t'])
}

/// RFC 9110 `tchar`: the characters allowed in a token such as a header name.
fn is_tchar(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

/// Why `key`, whose first character a header name cannot hold is at `at`, is refused. Only what
/// comes before that character is quoted: a key is cut at the entry's first `=`, so an entry
/// written as HTTP writes a header (`Authorization: Basic dXNlcjpwYXNz==`) has the credential in
/// its key (until session 42 quoted whole, on stderr).
fn not_a_name(key: &str, at: usize) -> String {
    let bad = key[at..].chars().next().unwrap_or_default().escape_debug();
    let rest = if key[at..].chars().nth(1).is_some() { " (the rest is not shown)" } else { "" };
    if at == 0 {
        format!("the key is not a valid HTTP header name: it starts with '{bad}'{rest}")
    } else {
        format!("the key {} is not a valid HTTP header name: '{bad}' follows{rest}", quoted(&key[..at]))
    }
}

/// A key for an error message: quoted, control characters escaped, and cut short so that a value
/// pasted where a key belongs cannot flood the log.
fn quoted(key: &str) -> String {
    const SHOWN: usize = 64;
    let mut out = String::from("\"");
    for c in key.chars().take(SHOWN) {
        let _ = write!(out, "{}", c.escape_debug());
    }
    if key.chars().nth(SHOWN).is_some() {
        out.push('…');
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(parsed: &ParsedHeaders) -> Vec<(&str, &str)> {
        parsed.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
    }

    #[test]
    fn the_exporters_own_headers_are_skipped() {
        let parsed = parse_headers("Content-Type=text/plain,grpc-timeout=1S,x-tenant=blue,host=elsewhere");
        assert_eq!(pairs(&parsed), [("x-tenant", "blue")]);
        assert_eq!(parsed.errors.len(), 3, "{:?}", parsed.errors);
        assert!(parsed.errors[0].contains("\"content-type\" is set by the exporter itself"), "{:?}", parsed.errors);
    }

    #[test]
    fn connection_specific_headers_are_skipped() {
        let parsed = parse_headers("Connection=keep-alive,x-tenant=blue,upgrade=h2c,TE=gzip");
        assert_eq!(pairs(&parsed), [("x-tenant", "blue")]);
        assert_eq!(parsed.errors.len(), 3, "{:?}", parsed.errors);
        assert!(parsed.errors[0].contains("\"connection\" is a connection-specific header"), "{:?}", parsed.errors);
    }

    #[test]
    fn plain_list() {
        let parsed = parse_headers("api-key=abc123,X-Tenant=blue");
        assert_eq!(pairs(&parsed), [("api-key", "abc123"), ("x-tenant", "blue")]);
        assert!(parsed.errors.is_empty());
    }

    #[test]
    fn spaces_around_keys_and_values_are_trimmed() {
        let parsed = parse_headers("  a = 1 ,\tb=\t2\t, c = two words ");
        assert_eq!(pairs(&parsed), [("a", "1"), ("b", "2"), ("c", "two words")]);
        assert!(parsed.errors.is_empty());
    }

    #[test]
    fn empty_input_and_empty_entries_are_silent() {
        assert_eq!(parse_headers(""), ParsedHeaders::default());
        let parsed = parse_headers(",, ,a=1,,\t,");
        assert_eq!(pairs(&parsed), [("a", "1")]);
        assert!(parsed.errors.is_empty());
    }

    #[test]
    fn split_on_the_first_equals_sign_only() {
        let parsed = parse_headers("authorization=Basic dXNlcjpwYXNz==");
        assert_eq!(pairs(&parsed), [("authorization", "Basic dXNlcjpwYXNz==")]);
    }

    #[test]
    fn percent_encoded_commas_equals_and_spaces() {
        let parsed = parse_headers("x-list=a%2Cb%2cc,x-eq=k%3Dv,Authorization=Bearer%20tok,x%2Dkey=1");
        assert_eq!(
            pairs(&parsed),
            [("x-list", "a,b,c"), ("x-eq", "k=v"), ("authorization", "Bearer tok"), ("x-key", "1")]
        );
        assert!(parsed.errors.is_empty());
    }

    #[test]
    fn decoded_spaces_are_kept() {
        let parsed = parse_headers("k=%20padded%20");
        assert_eq!(pairs(&parsed), [("k", " padded ")]);
    }

    #[test]
    fn unicode_values_raw_and_encoded() {
        let parsed = parse_headers("x-city=Zürich,x-name=%E6%9D%B1%E4%BA%AC,x-tab=a%09b");
        assert_eq!(pairs(&parsed), [("x-city", "Zürich"), ("x-name", "東京"), ("x-tab", "a\tb")]);
        assert!(parsed.errors.is_empty());
    }

    #[test]
    fn empty_value_is_a_valid_header() {
        let parsed = parse_headers("x-empty=,x-blank= ");
        assert_eq!(pairs(&parsed), [("x-empty", ""), ("x-blank", "")]);
    }

    #[test]
    fn missing_equals_does_not_echo_the_entry() {
        let parsed = parse_headers("a=1,Bearer hunter2,b=2");
        assert_eq!(pairs(&parsed), [("a", "1"), ("b", "2")]);
        assert_eq!(parsed.errors.len(), 1);
        assert!(parsed.errors[0].contains("entry 2"), "{}", parsed.errors[0]);
        assert!(parsed.errors[0].contains("no '='"), "{}", parsed.errors[0]);
        assert!(!parsed.errors[0].contains("hunter2"), "{}", parsed.errors[0]);
    }

    #[test]
    fn bad_escapes_skip_the_entry_without_echoing_the_value() {
        let parsed = parse_headers("token=abc%zzsecret,k%=1,short=x%4,utf=%C3%28secret,ok=1");
        assert_eq!(pairs(&parsed), [("ok", "1")]);
        assert_eq!(parsed.errors.len(), 4, "{:?}", parsed.errors);
        assert!(parsed.errors[0].contains("\"token\"") && parsed.errors[0].contains("hex"));
        assert!(parsed.errors[1].contains("the key \"k%\""), "{}", parsed.errors[1]);
        assert!(parsed.errors[2].contains("entry 3"), "{}", parsed.errors[2]);
        assert!(parsed.errors[3].contains("UTF-8"), "{}", parsed.errors[3]);
        for error in &parsed.errors {
            assert!(!error.contains("secret"), "{error}");
        }
    }

    #[test]
    fn keys_must_be_tokens() {
        let parsed = parse_headers("bad key=1,=2,x(y)=3,k%0A=4,ünï=5,%20=6,good_key.v1=7");
        assert_eq!(pairs(&parsed), [("good_key.v1", "7")]);
        assert_eq!(parsed.errors.len(), 6, "{:?}", parsed.errors);
        assert!(parsed.errors[0].contains("\"bad\" is not a valid HTTP header name: ' ' follows (the rest"));
        assert!(parsed.errors[1].contains("the key is empty"), "{}", parsed.errors[1]);
        assert!(
            parsed.errors[3].ends_with("the key \"k\" is not a valid HTTP header name: '\\n' follows"),
            "{}",
            parsed.errors[3]
        );
        assert!(parsed.errors[4].contains("it starts with 'ü' (the rest"), "{}", parsed.errors[4]);
    }

    /// An entry written as HTTP writes a header has its credential in what is cut as the key
    /// (at the first `=`, base64's padding): only what comes before the first character a name
    /// cannot hold is quoted.
    #[test]
    fn a_key_holding_a_credential_is_not_quoted_past_its_name() {
        let parsed = parse_headers("Authorization: Basic dXNlcjpwYXNz==");
        assert_eq!(parsed.errors.len(), 1);
        assert!(
            !parsed.errors[0].contains("dXNlcjpwYXNz") && !parsed.errors[0].contains("Basic"),
            "{}",
            parsed.errors[0]
        );
        assert!(parsed.errors[0].contains("\"Authorization\""), "{}", parsed.errors[0]);
    }

    #[test]
    fn control_characters_in_values_are_rejected() {
        let parsed = parse_headers("a=x%0D%0AInjected: 1,b=x%00,c=x%7F,d=\u{1}x,e=ok");
        assert_eq!(pairs(&parsed), [("e", "ok")]);
        assert_eq!(parsed.errors.len(), 4, "{:?}", parsed.errors);
        assert!(parsed.errors[0].contains("value of \"a\" contains the control character '\\r'"));
        assert!(!parsed.errors[0].contains("Injected"));
    }

    #[test]
    fn long_keys_are_cut_in_messages() {
        let key = format!("{}(x", "k".repeat(100));
        let parsed = parse_headers(&format!("{key}=v"));
        assert_eq!(parsed.errors.len(), 1);
        assert!(parsed.errors[0].len() < 200, "{}", parsed.errors[0]);
        assert!(parsed.errors[0].contains('…'));
    }

    #[test]
    fn duplicate_keys_are_all_kept() {
        let parsed = parse_headers("x-a=1,X-A=2");
        assert_eq!(pairs(&parsed), [("x-a", "1"), ("x-a", "2")]);
    }
}
