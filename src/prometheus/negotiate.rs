//! Content negotiation of a scrape (OTLP-NOTES §9.4): which text format and whether to gzip, from
//! the request's `Accept` and `Accept-Encoding`.

use super::text::Format;

/// One element of a comma-separated header list: its value and its `q` weight (1 when absent,
/// 0 when unreadable, so a malformed weight never wins).
struct Weighted<'a> {
    value: String,
    params: Vec<(String, &'a str)>,
    q: f32,
}

fn weighted(header: &str) -> impl Iterator<Item = Weighted<'_>> {
    header.split(',').filter_map(|element| {
        let mut parts = element.split(';');
        let value = parts.next()?.trim().to_ascii_lowercase();
        if value.is_empty() {
            return None;
        }
        let mut params = Vec::new();
        let mut q = 1.0;
        for param in parts {
            let Some((key, raw)) = param.split_once('=') else { continue };
            let key = key.trim().to_ascii_lowercase();
            let raw = raw.trim().trim_matches('"');
            if key == "q" {
                q = raw.parse::<f32>().ok().filter(|q| (0.0..=1.0).contains(q)).unwrap_or(0.0);
            } else {
                params.push((key, raw));
            }
        }
        Some(Weighted { value, params, q })
    })
}

/// The formats a media range names that we serve, each with how specific the range is (an exact
/// type with its version 4, without 3, `type/*` 2, `*/*` 1): `*/*` names both.
fn formats_of(range: &Weighted<'_>) -> &'static [(Format, u8)] {
    let version = range.params.iter().find(|(key, _)| key == "version").map(|(_, v)| *v);
    match (range.value.as_str(), version) {
        ("application/openmetrics-text", Some("1.0.0")) => &[(Format::OpenMetrics, 4)],
        ("application/openmetrics-text", None) => &[(Format::OpenMetrics, 3)],
        ("application/*", None) => &[(Format::OpenMetrics, 2)],
        ("text/plain", Some("0.0.4")) => &[(Format::Text, 4)],
        ("text/plain", None) => &[(Format::Text, 3)],
        ("text/*", None) => &[(Format::Text, 2)],
        ("*/*", None) => &[(Format::Text, 1), (Format::OpenMetrics, 1)],
        _ => &[],
    }
}

/// The format to answer with. Each format is weighed by the most specific range in `Accept` that
/// names it (RFC 9110: `text/plain;q=0, */*` excludes the text format, which `*/*` alone would
/// not; until session 40 any range's weight counted, so `*/*` brought back an excluded format);
/// the one with the highest weight above 0 wins, the one named first on a tie (the text format
/// when one range names both); with none, text format 0.0.4, the fallback the specification
/// requires. Public only for the `scrape_negotiation` fuzz target (`nanotel::internal`).
#[must_use]
pub fn choose_format(accept: Option<&str>) -> Format {
    // Per format (text, then OpenMetrics): (specificity, weight, position of its range).
    let mut weighed: [Option<(u8, f32, usize)>; 2] = [None, None];
    for (position, range) in weighted(accept.unwrap_or("")).enumerate() {
        for &(format, specificity) in formats_of(&range) {
            let slot = &mut weighed[usize::from(format == Format::OpenMetrics)];
            if slot.is_none_or(|(known, ..)| specificity > known) {
                *slot = Some((specificity, range.q, position));
            }
        }
    }
    let wins = |(_, q, position): (u8, f32, usize), (_, other_q, other_position): (u8, f32, usize)| {
        q.total_cmp(&other_q).then(other_position.cmp(&position)).is_gt()
    };
    match weighed {
        [text, Some(open)] if open.1 > 0.0 && text.is_none_or(|text| text.1 <= 0.0 || wins(open, text)) => {
            Format::OpenMetrics
        }
        _ => Format::Text,
    }
}

/// Whether `Accept-Encoding` allows gzip: by the weight of `gzip` when it is named, else of `*`
/// (RFC 9110: `*` stands for the codings not named, so `gzip;q=0, *` refuses gzip; until session
/// 40 the `*` let it through), above 0. Public only for the `scrape_negotiation` fuzz target
/// (`nanotel::internal`).
#[must_use]
pub fn accepts_gzip(accept_encoding: Option<&str>) -> bool {
    let codings: Vec<Weighted<'_>> = weighted(accept_encoding.unwrap_or("")).collect();
    let named = |value: &str| codings.iter().find(|coding| coding.value == value);
    named("gzip").or_else(|| named("*")).is_some_and(|coding| coding.q > 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_highest_weighted_supported_format_wins() {
        // What Prometheus 2.x sends.
        let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(choose_format(Some(prometheus)), Format::OpenMetrics);
        assert_eq!(choose_format(None), Format::Text);
        assert_eq!(choose_format(Some("")), Format::Text);
        assert_eq!(choose_format(Some("application/json")), Format::Text, "nothing we serve: the fallback");
        assert_eq!(
            choose_format(Some("text/plain;version=0.0.4;q=0.9, application/openmetrics-text;q=0.8")),
            Format::Text
        );
        assert_eq!(choose_format(Some("Application/OpenMetrics-Text; version=\"1.0.0\"")), Format::OpenMetrics);
        assert_eq!(choose_format(Some("application/openmetrics-text;version=0.0.1")), Format::Text);
        assert_eq!(choose_format(Some("application/openmetrics-text;q=0, text/plain;q=0.1")), Format::Text);
        assert_eq!(choose_format(Some("application/openmetrics-text;q=banana")), Format::Text);
        assert_eq!(choose_format(Some(",,;;=,text/plain;version=1.0.0")), Format::Text);
        assert_eq!(choose_format(Some("text/plain;q=0, */*")), Format::OpenMetrics, "the most specific range wins");
        assert_eq!(choose_format(Some("*/*")), Format::Text, "a range naming both: the text format");
        assert_eq!(
            choose_format(Some("text/plain;q=0, text/plain;version=0.0.4;q=0.5, application/openmetrics-text;q=0.1")),
            Format::Text,
            "a range with the version is more specific"
        );
        assert_eq!(choose_format(Some("text/*;q=0.2, application/*;q=0.3")), Format::OpenMetrics);
        assert!(!accepts_gzip(Some("gzip;q=0, *")), "gzip named and refused");
        assert!(accepts_gzip(Some("br;q=0, *")));
        assert!(accepts_gzip(Some("gzip")));
        assert!(accepts_gzip(Some("identity, GZIP;q=0.5")));
        assert!(accepts_gzip(Some("*")));
        assert!(!accepts_gzip(Some("gzip;q=0")));
        assert!(!accepts_gzip(Some("br, identity")));
        assert!(!accepts_gzip(None));
    }
}
