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

/// The format a media range asks for, if it is one we serve.
fn format_of(range: &Weighted<'_>) -> Option<Format> {
    let version = range.params.iter().find(|(key, _)| key == "version").map(|(_, v)| *v);
    match (range.value.as_str(), version) {
        ("application/openmetrics-text", None | Some("1.0.0")) | ("application/*", None) => Some(Format::OpenMetrics),
        ("text/plain", None | Some("0.0.4")) | ("text/*" | "*/*", None) => Some(Format::Text),
        _ => None,
    }
}

/// The format to answer with: the supported one with the highest `q` in `Accept` (the first
/// listed on a tie), else text format 0.0.4, the fallback the specification requires. Public only
/// for the `scrape_negotiation` fuzz target (`nanotel::internal`).
#[must_use]
pub fn choose_format(accept: Option<&str>) -> Format {
    let mut best: Option<(f32, Format)> = None;
    for range in weighted(accept.unwrap_or("")) {
        let Some(format) = format_of(&range) else { continue };
        if range.q > 0.0 && best.is_none_or(|(q, _)| range.q > q) {
            best = Some((range.q, format));
        }
    }
    best.map_or(Format::Text, |(_, format)| format)
}

/// Whether `Accept-Encoding` allows gzip (named, or `*`, with a weight above 0). Public only for
/// the `scrape_negotiation` fuzz target (`nanotel::internal`).
#[must_use]
pub fn accepts_gzip(accept_encoding: Option<&str>) -> bool {
    weighted(accept_encoding.unwrap_or(""))
        .any(|coding| (coding.value == "gzip" || coding.value == "*") && coding.q > 0.0)
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
        assert!(accepts_gzip(Some("gzip")));
        assert!(accepts_gzip(Some("identity, GZIP;q=0.5")));
        assert!(accepts_gzip(Some("*")));
        assert!(!accepts_gzip(Some("gzip;q=0")));
        assert!(!accepts_gzip(Some("br, identity")));
        assert!(!accepts_gzip(None));
    }
}
