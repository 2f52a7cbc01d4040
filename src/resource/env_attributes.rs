//! `OTEL_RESOURCE_ATTRIBUTES`: resource attributes given by whoever deploys the program.

use std::collections::HashMap;

use crate::config::SkippedEntries;

/// The longest part of a key quoted in a problem message; keys come from outside.
const QUOTED_KEY_CHARS: usize = 64;

/// The attributes taken from one `OTEL_RESOURCE_ATTRIBUTES` value, and the entries skipped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParsedAttributes {
    /// Decoded keys with their decoded values, each key once, in the order keys first appear; a
    /// key given again takes the later value.
    pub attributes: Vec<(String, String)>,
    /// One message per distinct reason an entry was skipped, naming the entries by position and,
    /// where readable, by key, so that a mistake repeated along the list is one message. Callers
    /// should prefix the variable's name when they log them.
    pub problems: Vec<String>,
}

/// Parses a `key1=value1,key2=value2` list of resource attributes.
///
/// Entries are split on `,` and each on its first `=`; spaces and tabs around keys and values are
/// trimmed, then both are percent-decoded as UTF-8, so `%2C`, `%3D` and `%20` carry commas, equals
/// signs and spaces. All values are strings, and an empty value is kept. Empty entries are ignored.
/// An entry without `=`, with an empty key, or with a bad `%` escape is skipped and described in
/// [`ParsedAttributes::problems`], and the other entries are still used. (The specification would
/// have the whole variable dropped for a decoding error; one mistyped entry should not cost a
/// trading process the rest of its identity.)
///
/// ```
/// use nanotel::internal::parse_resource_attributes;
///
/// let parsed = parse_resource_attributes("deployment.environment.name=prod, desk=fx%2Coptions,broken,desk.id=7");
/// assert_eq!(
///     parsed.attributes,
///     [
///         ("deployment.environment.name".to_owned(), "prod".to_owned()),
///         ("desk".to_owned(), "fx,options".to_owned()),
///         ("desk.id".to_owned(), "7".to_owned()),
///     ]
/// );
/// assert_eq!(parsed.problems, ["entry 3 is skipped: it has no '=' between a key and a value"]);
/// ```
#[must_use]
pub fn parse_resource_attributes(value: &str) -> ParsedAttributes {
    let mut parsed = ParsedAttributes::default();
    let mut skipped = SkippedEntries::default();
    // Where each key is in the attributes: a key given again replaces its value there (until
    // session 42 found by a scan, quadratic in the entries: 3 s for 20,000).
    let mut at: HashMap<String, usize> = HashMap::new();
    for (index, entry) in value.split(',').enumerate() {
        if trim(entry).is_empty() {
            continue;
        }
        match parse_entry(entry) {
            Ok((key, value)) => {
                if let Some(&earlier) = at.get(&key) {
                    parsed.attributes[earlier].1 = value;
                } else {
                    at.insert(key.clone(), parsed.attributes.len());
                    parsed.attributes.push((key, value));
                }
            }
            Err(reason) => skipped.add(index + 1, reason),
        }
    }
    parsed.problems = skipped.lines(|position, reason| format!("entry {position} is skipped: {reason}"));
    parsed
}

fn parse_entry(entry: &str) -> Result<(String, String), String> {
    let (raw_key, raw_value) = entry.split_once('=').ok_or("it has no '=' between a key and a value")?;
    let raw_key = trim(raw_key);
    let key = crate::percent::decode_text(raw_key).map_err(|why| format!("the key {} {why}", quoted(raw_key)))?;
    if key.is_empty() {
        return Err("the key is empty".to_owned());
    }
    let value =
        crate::percent::decode_text(trim(raw_value)).map_err(|why| format!("the value of {} {why}", quoted(&key)))?;
    Ok((key, value))
}

/// Trims the blanks one may leave around `,` and `=`; anything else is part of the text.
fn trim(text: &str) -> &str {
    text.trim_matches([' ', '\t'])
}

/// The start of `key`, quoted with control characters escaped, fit for a log line.
fn quoted(key: &str) -> String {
    let start: String = key.chars().take(QUOTED_KEY_CHARS).collect();
    let ellipsis = if start.len() < key.len() { "..." } else { "" };
    format!("{start:?}{ellipsis}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(parsed: &ParsedAttributes) -> Vec<(&str, &str)> {
        parsed.attributes.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
    }

    #[test]
    fn percent_escapes_are_decoded_in_keys_and_values() {
        let parsed = parse_resource_attributes("a%3Db=c%2Cd%3De,name=caf%C3%A9%20bar,plus=a+b");
        assert_eq!(pairs(&parsed), [("a=b", "c,d=e"), ("name", "café bar"), ("plus", "a+b")]);
        assert!(parsed.problems.is_empty());
    }

    #[test]
    fn blanks_around_keys_and_values_are_trimmed_but_escaped_ones_kept() {
        let parsed = parse_resource_attributes(" \tk = v \t, pad=%20x%20 ");
        assert_eq!(pairs(&parsed), [("k", "v"), ("pad", " x ")]);
    }

    #[test]
    fn empty_values_are_kept_and_empty_entries_ignored() {
        let parsed = parse_resource_attributes(",a=,, b = ,c==x,");
        assert_eq!(pairs(&parsed), [("a", ""), ("b", ""), ("c", "=x")]);
        assert!(parsed.problems.is_empty());
        assert_eq!(parse_resource_attributes(""), ParsedAttributes::default());
    }

    #[test]
    fn entries_without_equals_or_key_are_skipped_with_their_position() {
        let parsed = parse_resource_attributes("ok=1,lonely,=nokey, %20=x");
        assert_eq!(pairs(&parsed), [("ok", "1"), (" ", "x")]);
        assert_eq!(
            parsed.problems,
            ["entry 2 is skipped: it has no '=' between a key and a value", "entry 3 is skipped: the key is empty"]
        );
    }

    #[test]
    fn bad_escapes_skip_only_their_entry() {
        let parsed = parse_resource_attributes("a=1,b%zz=2,c=%4,d=%FF,e=5");
        assert_eq!(pairs(&parsed), [("a", "1"), ("e", "5")]);
        assert_eq!(parsed.problems.len(), 3, "{:?}", parsed.problems);
        assert!(parsed.problems[0].starts_with("entry 2 is skipped: the key \"b%zz\" has a '%'"));
        assert!(parsed.problems[1].starts_with("entry 3 is skipped: the value of \"c\" has a '%'"));
        assert!(parsed.problems[2].contains("does not decode to UTF-8"), "{}", parsed.problems[2]);
    }

    #[test]
    fn a_repeated_key_takes_the_last_value_in_the_first_place() {
        let parsed = parse_resource_attributes("k=1,other=x,k=2,k%3D=3");
        assert_eq!(pairs(&parsed), [("k", "2"), ("other", "x"), ("k=", "3")]);
    }

    #[test]
    fn quoted_keys_are_bounded_and_escaped() {
        let key = format!("\u{1b}{}%", "x".repeat(200));
        let parsed = parse_resource_attributes(&format!("{key}=v"));
        let problem = &parsed.problems[0];
        assert!(problem.contains("\\u{1b}") && problem.contains("...") && problem.len() < 200, "{problem}");
    }
}
