//! Text rules shared by the HTTP header values the crate reads (`traceparent`, `tracestate`,
//! `baggage`, B3).

/// Without leading and trailing spaces and tabs: HTTP's optional whitespace, and nothing else
/// (a line break or other control character stays, to be rejected by the grammar).
pub(crate) fn trim_ows(value: &[u8]) -> &[u8] {
    let is_ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = value.iter().position(|b| !is_ows(b)).unwrap_or(value.len());
    let end = value.iter().rposition(|b| !is_ows(b)).map_or(start, |i| i + 1);
    &value[start..end]
}
