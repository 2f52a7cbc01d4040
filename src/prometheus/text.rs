//! Prometheus text exposition format 0.0.4 and `OpenMetrics` 1.0.0 text from collected metrics,
//! with the OTLP → Prometheus translation of OTLP-NOTES §9.5 (`UnderscoreEscapingWithSuffixes`):
//!
//! - names: characters outside `[a-zA-Z0-9_:]` become `_` (runs collapsed), then the unit's word
//!   (`s` → `seconds`, `By/s` → `bytes_per_second`, `{order}` → nothing; unit `1` adds nothing, as
//!   the specification now says, not otlptranslator's `_ratio`), then `_total` for counters (in
//!   `OpenMetrics` the family is named without `_total` and carries a `# UNIT` when the name ends
//!   with the unit's word);
//! - monotonic cumulative sums are counters, other cumulative sums and gauges are gauges,
//!   cumulative explicit histograms are histograms (in `OpenMetrics` those without a sum or with
//!   a negative one or negative bounds have no `_sum` and no `_count`; the text format always
//!   has `_count`), summaries (from a source of one's own) are summaries; delta sums and
//!   histograms (under a delta temporality preference) and exponential histograms have no text
//!   form and are left out (the specification's SHOULD); no `_created` samples;
//! - exemplars, in `OpenMetrics` only (the 0.0.4 text format has none): a counter's `_total` sample
//!   carries its point's latest exemplar, and each `_bucket` sample the latest exemplar whose
//!   value falls in that bucket (else the highest of a lower bucket's), as ` # {trace_id="…",span_id="…"} value timestamp` (ids in
//!   lowercase hex, the labels left out when the exemplar has no span, the timestamp in seconds),
//!   followed inside the braces by the exemplar's filtered attributes (the pairs a view removed)
//!   as labels, in order, as many as fit `OpenMetrics`' limit of 128 characters for an exemplar's
//!   label names and values together (the ids take 63): a pair that would pass it is left out;
//! - attribute keys become labels the same way (a leading digit gets `key_`; keys that collide
//!   after translation have their values joined with `;` in key order; a key that clashes with a
//!   scope label or `le` is left out), followed by `otel_scope_name`, `otel_scope_version`,
//!   `otel_scope_schema_url` and `otel_scope_<key>` for each scope attribute (empty ones omitted);
//! - `# HELP` is the description, or the `OTel` name when there is none (so `promtool check
//!   metrics` finds no missing help text);
//! - [`encode`] given a resource leads with `target_info` (an `info` family in OpenMetrics, a
//!   gauge of 1 in 0.0.4) labelled with the resource's attributes; [`render`](super::render)
//!   has no resource (it belongs to the export pipeline) and shows none.
//!
//! ```
//! use nanotel::prometheus::metric_name;
//!
//! assert_eq!(metric_name("http.server.request.duration", "s", false), "http_server_request_duration_seconds");
//! assert_eq!(metric_name("foo.bar", "By", true), "foo_bar_bytes_total");
//! assert_eq!(metric_name("net.io", "By/s", false), "net_io_bytes_per_second");
//! assert_eq!(metric_name("orders", "{order}", true), "orders_total");
//! ```

use std::collections::{HashMap, HashSet};
use std::fmt::Write;

use crate::proto::common::v1::{any_value::Value as Any, AnyValue, KeyValue};
use crate::proto::metrics::v1::{exemplar, Exemplar};
use crate::proto::metrics::v1::{metric::Data, number_data_point::Value as PointValue, AggregationTemporality};
use crate::proto::metrics::v1::{HistogramDataPoint, Metric, ScopeMetrics};
use crate::proto::resource::v1::Resource;

/// Replaces characters outside `[a-zA-Z0-9_]` (and `:` when `colon`) with `_`, collapsing runs.
fn sanitize(text: &str, colon: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let keep = c.is_ascii_alphanumeric() || c == '_' || (colon && c == ':');
        let c = if keep { c } else { '_' };
        if !(c == '_' && out.ends_with('_')) {
            out.push(c);
        }
    }
    out
}

fn unit_word(unit: &str) -> String {
    let word = match unit {
        "d" => "days",
        "h" => "hours",
        "min" => "minutes",
        "s" => "seconds",
        "ms" => "milliseconds",
        "us" => "microseconds",
        "ns" => "nanoseconds",
        "m" => "meters",
        "By" => "bytes",
        "KiBy" => "kibibytes",
        "MiBy" => "mebibytes",
        "GiBy" => "gibibytes",
        "TiBy" => "tebibytes",
        "kBy" | "KBy" => "kilobytes",
        "MBy" => "megabytes",
        "GBy" => "gigabytes",
        "TBy" => "terabytes",
        "V" => "volts",
        "A" => "amperes",
        "J" => "joules",
        "W" => "watts",
        "g" => "grams",
        "Cel" => "celsius",
        "Hz" => "hertz",
        "%" => "percent",
        "1" => "",
        other => return sanitize(other, false).trim_matches('_').to_owned(),
    };
    word.to_owned()
}

fn per_word(unit: &str) -> String {
    match unit {
        "s" => "second".into(),
        "m" => "minute".into(),
        "h" => "hour".into(),
        "d" => "day".into(),
        "w" => "week".into(),
        "mo" => "month".into(),
        "y" => "year".into(),
        other => unit_word(other),
    }
}

/// The unit's suffix: `{…}` annotations dropped, `a/b` as `a_per_b`.
fn unit_suffix(unit: &str) -> String {
    let mut plain = String::with_capacity(unit.len());
    let mut depth = 0;
    for c in unit.chars() {
        match c {
            '{' => depth += 1,
            '}' if depth > 0 => depth -= 1,
            _ if depth == 0 => plain.push(c),
            _ => {}
        }
    }
    match plain.split_once('/') {
        Some((numerator, denominator)) => {
            let (top, bottom) = (unit_word(numerator.trim()), per_word(denominator.trim()));
            match (top.is_empty(), bottom.is_empty()) {
                (_, true) => top,
                (true, false) => format!("per_{bottom}"),
                (false, false) => format!("{top}_per_{bottom}"),
            }
        }
        None => unit_word(plain.trim()),
    }
}

/// The Prometheus name of an OTLP metric (without the `_bucket`/`_sum`/`_count` of histograms).
///
/// The unit's suffix comes before a counter's `_total`, also when the name has one already
/// (`cpu_seconds_total` in seconds stays as it is; until session 40 it became
/// `cpu_seconds_total_seconds_total`), and underscores never double (`requests.` as a counter is
/// `requests_total`), as the specification's Prometheus compatibility rules say.
#[must_use]
pub fn metric_name(name: &str, unit: &str, counter: bool) -> String {
    let mut out = sanitize(name, true);
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    if counter && out.ends_with("_total") {
        out.truncate(out.len() - "_total".len());
    }
    let suffix = unit_suffix(unit);
    if !suffix.is_empty() && !out.ends_with(&format!("_{suffix}")) && out != suffix {
        push_word(&mut out, &suffix);
    }
    if counter {
        push_word(&mut out, "total");
    }
    out
}

/// Appends `_word` to a name, without a second `_` where the name ends with one.
fn push_word(name: &mut String, word: &str) {
    if !name.ends_with('_') {
        name.push('_');
    }
    name.push_str(word);
}

fn label_name(key: &str) -> String {
    let out = sanitize(key, false);
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        format!("key_{out}")
    } else {
        out
    }
}

/// An attribute value as label text, by the specification's representation of an `AnyValue` for
/// non-OTLP protocols: a string as it is, bytes in base64, `NaN`/`Infinity`/`-Infinity` for a
/// float that is not finite, arrays and maps as JSON (their strings JSON-escaped, an empty value
/// `null`), an empty value as the empty string. (Until session 40 bytes were hex, infinities
/// `+Inf`, and strings in arrays and maps written with Rust's escapes.)
fn value_text(value: Option<&AnyValue>) -> String {
    let mut out = String::new();
    write_value(&mut out, value.and_then(|v| v.value.as_ref()), false);
    out
}

fn write_value(out: &mut String, value: Option<&Any>, nested: bool) {
    use base64::Engine;
    match value {
        // A string-table reference only means something in a profile's dictionary.
        None | Some(Any::StringValueStrindex(_)) if nested => out.push_str("null"),
        None | Some(Any::StringValueStrindex(_)) => {}
        Some(Any::StringValue(s)) if nested => write_json_string(out, s),
        Some(Any::StringValue(s)) => out.push_str(s),
        Some(Any::BoolValue(b)) => {
            let _ = write!(out, "{b}");
        }
        Some(Any::IntValue(i)) => {
            let _ = write!(out, "{i}");
        }
        Some(Any::DoubleValue(d)) => {
            let text = if d.is_nan() {
                "NaN".to_owned()
            } else if d.is_infinite() {
                if *d > 0.0 { "Infinity" } else { "-Infinity" }.to_owned()
            } else {
                number(*d)
            };
            if nested && !d.is_finite() {
                write_json_string(out, &text);
            } else {
                out.push_str(&text);
            }
        }
        Some(Any::BytesValue(bytes)) => {
            let text = base64::engine::general_purpose::STANDARD.encode(bytes);
            if nested {
                write_json_string(out, &text);
            } else {
                out.push_str(&text);
            }
        }
        Some(Any::ArrayValue(array)) => {
            out.push('[');
            for (i, v) in array.values.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, v.value.as_ref(), true);
            }
            out.push(']');
        }
        Some(Any::KvlistValue(list)) => {
            out.push('{');
            for (i, kv) in list.values.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json_string(out, &kv.key);
                out.push(':');
                write_value(out, kv.value.as_ref().and_then(|v| v.value.as_ref()), true);
            }
            out.push('}');
        }
    }
}

/// `text` as a JSON string, quotes included.
fn write_json_string(out: &mut String, text: &str) {
    out.push_str(&serde_json::Value::from(text).to_string());
}

/// A sample value as Go's `ParseFloat` reads it.
fn number(value: f64) -> String {
    if value.is_nan() {
        "NaN".into()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{value}")
    }
}

fn point_value(value: Option<PointValue>) -> String {
    match value {
        Some(PointValue::AsInt(i)) => i.to_string(),
        Some(PointValue::AsDouble(d)) => number(d),
        None => "NaN".into(),
    }
}

fn escape_label_value(text: &str) -> String {
    text.replace('\\', r"\\").replace('"', "\\\"").replace('\n', r"\n")
}

/// A bucket bound as `OpenMetrics` wants it: Go's `%g` (shortest digits, exponent form below 1e-4
/// and from 1e6), with `.0` added when that shows neither a point nor an exponent.
fn canonical_bound(value: f64) -> String {
    if !value.is_finite() {
        return number(value);
    }
    if value == 0.0 {
        return "0.0".into();
    }
    // `{:e}` gives the shortest round-tripping digits: "1.5e-7", "1e6".
    let scientific = format!("{value:e}");
    let Some((mantissa, exponent)) = scientific.split_once('e') else { return number(value) };
    let Ok(exponent) = exponent.parse::<i32>() else { return number(value) };
    if !(-4..6).contains(&exponent) {
        let sign = if exponent < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{:02}", exponent.unsigned_abs());
    }
    let plain = format!("{value}");
    if plain.contains('.') {
        plain
    } else {
        format!("{plain}.0")
    }
}

/// The text format of an exposition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// Prometheus text format 0.0.4 (`text/plain; version=0.0.4`).
    Text,
    /// `OpenMetrics` 1.0.0 text (`application/openmetrics-text; version=1.0.0`).
    OpenMetrics,
}

impl Format {
    /// The `Content-Type` of an exposition in this format.
    #[must_use]
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=underscores",
        }
    }
}

/// The label set of a point: translated attributes (collisions joined; names that clash with
/// `reserved`, or that translate to nothing, left out), then the scope labels.
fn labels(attributes: &[KeyValue], scope: &[(String, String)], reserved: &[&str]) -> Vec<(String, String)> {
    let mut translated: Vec<(String, &str, String)> = attributes
        .iter()
        .map(|kv| (label_name(&kv.key), kv.key.as_str(), value_text(kv.value.as_ref())))
        .filter(|(name, _, _)| {
            !name.is_empty() && !reserved.contains(&name.as_str()) && !scope.iter().any(|(k, _)| k == name)
        })
        .collect();
    translated.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    let mut out: Vec<(String, String)> = Vec::with_capacity(translated.len() + scope.len());
    for (name, _, value) in translated {
        match out.last_mut() {
            Some((last, joined)) if *last == name => {
                joined.push(';');
                joined.push_str(&value);
            }
            _ => out.push((name, value)),
        }
    }
    out.extend(scope.iter().filter(|(_, v)| !v.is_empty()).cloned());
    out
}

/// The labels every point of a scope carries: `otel_scope_name`, `otel_scope_version`,
/// `otel_scope_schema_url`, and `otel_scope_<key>` per scope attribute (one clashing with the
/// first three is left out).
fn scope_labels(scope_metrics: &ScopeMetrics) -> Vec<(String, String)> {
    let fixed = ["otel_scope_name", "otel_scope_version", "otel_scope_schema_url"];
    let (name, version, attributes) = scope_metrics
        .scope
        .as_ref()
        .map_or(("", "", &[][..]), |s| (s.name.as_str(), s.version.as_str(), s.attributes.as_slice()));
    let mut out: Vec<(String, String)> = fixed
        .iter()
        .zip([name, version, scope_metrics.schema_url.as_str()])
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    for (key, value) in labels(attributes, &[], &[]) {
        let key = format!("otel_scope_{key}");
        if !fixed.contains(&key.as_str()) {
            out.push((key, value));
        }
    }
    out
}

fn write_sample(out: &mut String, name: &str, labels: &[(String, String)], extra: Option<(&str, &str)>, value: &str) {
    write_sample_with(out, name, labels, extra, value, None);
}

/// A sample line, followed by an `OpenMetrics` exemplar when one is given.
fn write_sample_with(
    out: &mut String,
    name: &str,
    labels: &[(String, String)],
    extra: Option<(&str, &str)>,
    value: &str,
    exemplar: Option<&Exemplar>,
) {
    out.push_str(name);
    let all = labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).chain(extra);
    let mut first = true;
    for (key, value) in all {
        out.push(if first { '{' } else { ',' });
        first = false;
        let _ = write!(out, "{key}=\"{}\"", escape_label_value(value));
    }
    if !first {
        out.push('}');
    }
    let _ = write!(out, " {value}");
    if let Some(exemplar) = exemplar {
        write_exemplar(out, exemplar);
    }
    out.push('\n');
}

/// The most characters (UTF-8 code points) an `OpenMetrics` exemplar's label set may have, its
/// names and values together.
const EXEMPLAR_LABEL_CHARS: usize = 128;

/// ` # {trace_id="…",span_id="…",…} value timestamp`: the ids as lowercase hex (none when the
/// exemplar has none), then its filtered attributes as labels, in order, each one that would take
/// the label set past [`EXEMPLAR_LABEL_CHARS`] (or repeat a label) left out; the timestamp in
/// seconds.
fn write_exemplar(out: &mut String, exemplar: &Exemplar) {
    let hex = |bytes: &[u8]| {
        bytes.iter().fold(String::with_capacity(2 * bytes.len()), |mut hex, b| {
            let _ = write!(hex, "{b:02x}");
            hex
        })
    };
    let mut labels: Vec<(String, String)> = Vec::new();
    if !exemplar.trace_id.is_empty() && !exemplar.span_id.is_empty() {
        labels.push(("trace_id".into(), hex(&exemplar.trace_id)));
        labels.push(("span_id".into(), hex(&exemplar.span_id)));
    }
    let chars = |(name, value): &(String, String)| name.chars().count() + value.chars().count();
    let mut used: usize = labels.iter().map(chars).sum();
    for kv in &exemplar.filtered_attributes {
        let label = (label_name(&kv.key), value_text(kv.value.as_ref()));
        let size = chars(&label);
        if label.0.is_empty() || labels.iter().any(|(name, _)| *name == label.0) || used + size > EXEMPLAR_LABEL_CHARS {
            continue;
        }
        used += size;
        labels.push(label);
    }
    out.push_str(" # {");
    for (i, (name, value)) in labels.iter().enumerate() {
        let comma = if i > 0 { "," } else { "" };
        let _ = write!(out, "{comma}{name}=\"{}\"", escape_label_value(value));
    }
    let value = match exemplar.value {
        Some(exemplar::Value::AsInt(i)) => i.to_string(),
        Some(exemplar::Value::AsDouble(d)) => number(d),
        None => "NaN".into(),
    };
    let seconds = exemplar.time_unix_nano / 1_000_000_000;
    let _ = write!(out, "}} {value} {seconds}.{:09}", exemplar.time_unix_nano % 1_000_000_000);
}

/// The value of an exemplar as a float, to find its bucket.
fn exemplar_value(exemplar: &Exemplar) -> f64 {
    match exemplar.value {
        Some(exemplar::Value::AsInt(i)) => i as f64,
        Some(exemplar::Value::AsDouble(d)) => d,
        None => f64::NAN,
    }
}

/// The latest of `exemplars` (by time).
fn latest<'a>(exemplars: impl Iterator<Item = &'a Exemplar>) -> Option<&'a Exemplar> {
    exemplars.max_by_key(|exemplar| exemplar.time_unix_nano)
}

struct Family {
    name: String,
    kind: &'static str,
    unit: String,
    help: String,
    samples: String,
}

impl Family {
    /// The family's name and the names its samples are written with, in either format (a
    /// counter's `_total` is its name in the text format, a suffix in `OpenMetrics`).
    fn sample_names(&self) -> impl Iterator<Item = String> + '_ {
        let suffixes: &[&str] = match self.kind {
            "counter" => &["", "_total"],
            "histogram" => &["", "_bucket", "_count", "_sum"],
            "summary" => &["", "_count", "_sum"],
            "info" => &["", "_info"],
            _ => &[""],
        };
        suffixes.iter().map(|suffix| format!("{}{suffix}", self.name))
    }

    fn write(&self, out: &mut String, format: Format) {
        match format {
            Format::Text => {
                let help = self.help.replace('\\', r"\\").replace('\n', r"\n");
                let _ = writeln!(out, "# HELP {} {help}", self.name);
                let _ = writeln!(out, "# TYPE {} {}", self.name, self.kind);
            }
            Format::OpenMetrics => {
                let _ = writeln!(out, "# TYPE {} {}", self.name, self.kind);
                if !self.unit.is_empty() {
                    let _ = writeln!(out, "# UNIT {} {}", self.name, self.unit);
                }
                let _ = writeln!(out, "# HELP {} {}", self.name, escape_label_value(&self.help));
            }
        }
        out.push_str(&self.samples);
    }
}

/// The family a metric belongs to, and its samples, or `None` for a metric with no text form.
fn translate(metric: &Metric, scope: &[(String, String)], format: Format) -> Option<Family> {
    let cumulative = AggregationTemporality::Cumulative as i32;
    let (kind, counter) = match metric.data.as_ref()? {
        Data::Sum(sum) if sum.aggregation_temporality != cumulative => return None,
        Data::Sum(sum) if sum.is_monotonic => ("counter", true),
        Data::Sum(_) | Data::Gauge(_) => ("gauge", false),
        Data::Histogram(h) if h.aggregation_temporality == cumulative => ("histogram", false),
        // Only from a source of one's own: nanotel's instruments make none.
        Data::Summary(_) => ("summary", false),
        _ => return None,
    };
    // The sample name; in OpenMetrics a counter's family drops the `_total` its samples carry.
    let name = metric_name(&metric.name, &metric.unit, counter);
    let family = match format {
        Format::OpenMetrics if counter => name.strip_suffix("_total").unwrap_or(&name).to_owned(),
        _ => name.clone(),
    };
    let unit = unit_suffix(&metric.unit);
    let unit = if family.ends_with(&format!("_{unit}")) { unit } else { String::new() };
    let help = if metric.description.is_empty() { &metric.name } else { &metric.description };
    let mut samples = String::new();
    let mut sets = LabelSets { seen: HashMap::new(), metric: &metric.name };
    match metric.data.as_ref()? {
        Data::Sum(sum) => {
            let labels_of = |i: usize| labels(&sum.data_points[i].attributes, scope, &[]);
            for (i, p) in sum.data_points.iter().enumerate() {
                // OpenMetrics has exemplars on counters, not on gauges.
                let exemplar = latest(p.exemplars.iter()).filter(|_| counter && format == Format::OpenMetrics);
                let labels = labels_of(i);
                if sets.first(i, &labels, labels_of) {
                    write_sample_with(&mut samples, &name, &labels, None, &point_value(p.value), exemplar);
                }
            }
        }
        Data::Gauge(gauge) => {
            let labels_of = |i: usize| labels(&gauge.data_points[i].attributes, scope, &[]);
            for (i, p) in gauge.data_points.iter().enumerate() {
                let labels = labels_of(i);
                if sets.first(i, &labels, labels_of) {
                    write_sample(&mut samples, &name, &labels, None, &point_value(p.value));
                }
            }
        }
        Data::Histogram(histogram) => {
            let bucket = format!("{name}_bucket");
            let bound = |b: f64| if format == Format::OpenMetrics { canonical_bound(b) } else { number(b) };
            let labels_of = |i: usize| labels(&histogram.data_points[i].attributes, scope, &["le"]);
            for (i, p) in histogram.data_points.iter().enumerate() {
                let labels = labels_of(i);
                if !sets.first(i, &labels, labels_of) {
                    continue;
                }
                // The latest exemplar of bucket `i`, in OpenMetrics.
                let exemplar = |i: usize| {
                    let exemplars = p.exemplars.iter().filter(|_| format == Format::OpenMetrics);
                    latest(
                        exemplars.filter(|e| crate::metrics::bucket_index(&p.explicit_bounds, exemplar_value(e)) == i),
                    )
                };
                // A bucket without an exemplar of its own shows the highest of a lower bucket's,
                // as the specification asks (until session 40 it showed none).
                let mut shown = None;
                let mut running = 0u64;
                for (i, (b, count)) in p.explicit_bounds.iter().zip(&p.bucket_counts).enumerate() {
                    running = running.saturating_add(*count);
                    let le = Some(("le", bound(*b)));
                    let le = le.as_ref().map(|(k, v)| (*k, v.as_str()));
                    shown = exemplar(i).or(shown);
                    write_sample_with(&mut samples, &bucket, &labels, le, &running.to_string(), shown);
                }
                let last = p.explicit_bounds.len();
                let inf = Some(("le", "+Inf"));
                write_sample_with(&mut samples, &bucket, &labels, inf, &p.count.to_string(), exemplar(last).or(shown));
                write_sum_and_count(&mut samples, &name, &labels, p, format);
            }
        }
        Data::Summary(summary) => {
            // The specification's conversion: a sample per quantile, labelled `quantile`, then
            // `_sum` and `_count` (until session 40 a summary from a source was left out,
            // silently).
            let labels_of = |i: usize| labels(&summary.data_points[i].attributes, scope, &["quantile"]);
            for (i, p) in summary.data_points.iter().enumerate() {
                let labels = labels_of(i);
                if !sets.first(i, &labels, labels_of) {
                    continue;
                }
                for q in &p.quantile_values {
                    let quantile = number(q.quantile);
                    write_sample(&mut samples, &name, &labels, Some(("quantile", &quantile)), &number(q.value));
                }
                write_sample(&mut samples, &format!("{name}_sum"), &labels, None, &number(p.sum));
                write_sample(&mut samples, &format!("{name}_count"), &labels, None, &p.count.to_string());
            }
        }
        Data::ExponentialHistogram(_) => return None,
    }
    Some(Family { name: family, kind, unit, help: help.clone(), samples })
}

/// The label sets of one metric's points written so far. Distinct attribute sets can translate to
/// one label set (`code="200"` as a string and as an integer, keys `a.b` and `a_b`, attributes
/// left out as reserved, NaNs of different bits); Prometheus drops the second sample of a series
/// and OpenMetrics makes the whole exposition invalid, so the later point is left out, said once
/// on stderr (until session 42 both were written).
///
/// Points are told apart by a cheap fingerprint of their labels ([`fingerprint`]); those that share
/// one (values alike at their ends, an id in the middle of a path, say) by a hash of the whole
/// labels, each point's taken at most once (its labels made again by `labels_of`), and those whose
/// hashes match are compared whole. Keeping every point's labels, or hashing every one whole, cost
/// a scrape of 2,000 points with 8 KiB labels several times its time.
struct LabelSets<'m> {
    /// The points written so far, by the fingerprint of their labels, each with the hash of its
    /// whole labels once taken.
    seen: HashMap<u64, Vec<(usize, Option<u64>)>>,
    metric: &'m str,
}

impl LabelSets<'_> {
    /// Whether no earlier point of the metric had `labels` (point `index`'s); `labels_of(i)`
    /// makes point `i`'s labels again.
    fn first(
        &mut self,
        index: usize,
        labels: &[(String, String)],
        labels_of: impl Fn(usize) -> Vec<(String, String)>,
    ) -> bool {
        let earlier = self.seen.entry(fingerprint(labels)).or_default();
        if earlier.is_empty() {
            earlier.push((index, None));
            return true;
        }
        let whole = whole_hash(labels);
        let mut same = false;
        for (point, hash) in earlier.iter_mut() {
            let hash = *hash.get_or_insert_with(|| whole_hash(&labels_of(*point)));
            if hash == whole && labels_of(*point) == labels {
                same = true;
                break;
            }
        }
        if !same {
            earlier.push((index, Some(whole)));
            return true;
        }
        // Once per metric, without the labels: their values may be long, and new ones come.
        crate::diag::config_problems([&format!(
            "Prometheus view: two points of {:?} have the same labels once translated (attributes that differ \
             only in value type, or in characters a label name cannot hold); the later is left out",
            self.metric
        )]);
        false
    }
}

/// What tells label sets apart cheaply, whatever their values' size: each label's name, its
/// value's length, and the value's first and last 16 bytes. Equal sets have equal fingerprints.
fn fingerprint(labels: &[(String, String)]) -> u64 {
    use std::hash::{Hash, Hasher};
    const ENDS: usize = 16;
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for (name, value) in labels {
        let bytes = value.as_bytes();
        (name, bytes.len()).hash(&mut hasher);
        bytes[..bytes.len().min(ENDS)].hash(&mut hasher);
        bytes[bytes.len().saturating_sub(ENDS)..].hash(&mut hasher);
    }
    hasher.finish()
}

/// The hash of whole labels, names and values.
fn whole_hash(labels: &[(String, String)]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    labels.hash(&mut hasher);
    hasher.finish()
}

/// A histogram point's `_sum` and `_count`. In `OpenMetrics` both or neither: neither without a
/// sum (an up-down counter as a histogram: its values may be negative), with a negative one, or
/// with negative bucket bounds (a histogram with a sum "MUST NOT" have those there; the `+Inf`
/// bucket is the count). The text format has `_count` always, and `_sum` when there is one
/// (until session 40 a point without a sum had no `_count` there either, and OpenMetrics showed
/// negative sums).
fn write_sum_and_count(
    out: &mut String,
    name: &str,
    labels: &[(String, String)],
    p: &HistogramDataPoint,
    format: Format,
) {
    let sum = match format {
        Format::Text => p.sum,
        Format::OpenMetrics => {
            let negative_bounds = p.explicit_bounds.first().is_some_and(|&bound| bound < 0.0);
            p.sum.filter(|&sum| sum >= 0.0 && !negative_bounds)
        }
    };
    if let Some(sum) = sum {
        write_sample(out, &format!("{name}_sum"), labels, None, &number(sum));
    }
    if sum.is_some() || format == Format::Text {
        write_sample(out, &format!("{name}_count"), labels, None, &p.count.to_string());
    }
}

/// The `target_info` family of a resource (none for a resource without attributes).
fn target_info(resource: &Resource, format: Format) -> Option<Family> {
    if resource.attributes.is_empty() {
        return None;
    }
    let mut samples = String::new();
    write_sample(&mut samples, "target_info", &labels(&resource.attributes, &[], &[]), None, "1");
    let (name, kind) = match format {
        Format::Text => ("target_info", "gauge"),
        Format::OpenMetrics => ("target", "info"),
    };
    Some(Family { name: name.into(), kind, unit: String::new(), help: "Target metadata".into(), samples })
}

/// The exposition of `scopes` in `format`, led by `target_info` from `resource` when there is one.
///
/// Metrics of several scopes that translate to one name share one family (their samples told
/// apart by the scope's labels); a metric whose name, or one of whose sample names, is already
/// taken by another metric is left out (with a warning): one of another type, one of the same
/// scope (`http.requests` beside `http_requests`: one series written twice), a sample name of
/// another family (in `OpenMetrics` a counter `orders` writes `orders_total`, a gauge's name), or
/// `target_info`'s. An `OpenMetrics` exposition ends with `# EOF`.
///
/// ```
/// use nanotel::prometheus::{encode, Format};
/// use nanotel::metrics::MeterProvider;
///
/// let provider = MeterProvider::builder().without_env().build();
/// provider.meter("gateway").u64_counter("orders").build().unwrap().add(2, &[]);
/// let text = encode(&provider.snapshot(), None, Format::OpenMetrics);
/// assert!(text.starts_with("# TYPE orders counter\n# HELP orders orders\norders_total{otel_scope_name=\"gateway\"} 2\n"));
/// assert!(text.ends_with("# EOF\n"));
/// ```
#[must_use]
pub fn encode(scopes: &[ScopeMetrics], resource: Option<&Resource>, format: Format) -> String {
    let mut families: Vec<Family> = Vec::new();
    // Every name a family's samples use, and the family using it.
    let mut claimed: HashMap<String, usize> = HashMap::new();
    // The families each scope has a metric in.
    let mut placed: HashSet<(usize, Vec<(String, String)>)> = HashSet::new();
    let target_info = resource.and_then(|r| target_info(r, format)).map(|target| {
        claimed.extend(target.sample_names().map(|name| (name, 0)));
        families.push(target);
        0
    });
    for scope_metrics in scopes {
        let scope = scope_labels(scope_metrics);
        for metric in &scope_metrics.metrics {
            let Some(family) = translate(metric, &scope, format) else { continue };
            let shared = claimed.get(&family.name).copied().filter(|&i| {
                Some(i) != target_info && families[i].name == family.name && families[i].kind == family.kind
            });
            let taken = match shared {
                Some(i) if placed.insert((i, scope.clone())) => {
                    families[i].samples.push_str(&family.samples);
                    continue;
                }
                Some(_) => true,
                None => family.name == "target_info" || family.sample_names().any(|name| claimed.contains_key(&name)),
            };
            if taken {
                crate::diag::warning!(
                    "Prometheus view: {:?} translates to {:?}, already used by another metric; left out",
                    metric.name,
                    family.name
                );
                continue;
            }
            let index = families.len();
            claimed.extend(family.sample_names().map(|name| (name, index)));
            placed.insert((index, scope.clone()));
            families.push(family);
        }
    }
    let mut out = String::new();
    for family in &families {
        family.write(&mut out, format);
    }
    if format == Format::OpenMetrics {
        out.push_str("# EOF\n");
    }
    out
}

// Not under loom: these collect instruments whose atomics are loom's, outside a model.
#[cfg(all(test, not(nanotel_loom)))]
mod tests {
    use super::*;

    #[test]
    fn names_and_labels_translate() {
        assert_eq!(metric_name("a..b--c", "", false), "a_b_c");
        assert_eq!(metric_name("latency_seconds", "s", false), "latency_seconds");
        assert_eq!(metric_name("ratio", "1", false), "ratio");
        assert_eq!(metric_name("pkts", "{packet}/s", true), "pkts_per_second_total");
        assert_eq!(metric_name("requests_total", "", true), "requests_total");
        assert_eq!(metric_name("cpu_seconds_total", "s", true), "cpu_seconds_total");
        assert_eq!(metric_name("bytes_sent_total", "By", true), "bytes_sent_bytes_total");
        assert_eq!(metric_name("requests.", "", true), "requests_total");
        assert_eq!(metric_name("wait_", "s", false), "wait_seconds");
        assert_eq!(metric_name("total", "", true), "total_total");
        assert_eq!(metric_name("temp", "Cel", false), "temp_celsius");
        assert_eq!(label_name("http.method"), "http_method");
        assert_eq!(label_name("0day"), "key_0day");
        let kv = |k: &str, v: &str| KeyValue {
            key: k.into(),
            value: Some(AnyValue { value: Some(Any::StringValue(v.into())) }),
            ..Default::default()
        };
        let scope = [("otel_scope_name".to_string(), "s".to_string())];
        let joined =
            labels(&[kv("a.b", "2"), kv("a_b", "1"), kv("z", "q\"\n"), kv("otel_scope_name", "x")], &scope, &[]);
        assert_eq!(joined[0], ("a_b".to_string(), "2;1".to_string()));
        let mut line = String::new();
        write_sample(&mut line, "m", &joined, None, "1");
        assert_eq!(line, "m{a_b=\"2;1\",z=\"q\\\"\\n\",otel_scope_name=\"s\"} 1\n");
        assert_eq!(
            [0.0, 0.1, 1.0, 10.0, 1e6, 2.5e-5, 1e-4, 123_456.0, -3.0, f64::INFINITY].map(canonical_bound),
            ["0.0", "0.1", "1.0", "10.0", "1e+06", "2.5e-05", "0.0001", "123456.0", "-3.0", "+Inf"]
        );
        assert_eq!(
            (number(f64::INFINITY), number(-0.5), number(1e21)),
            ("+Inf".into(), "-0.5".into(), "1000000000000000000000".into())
        );
    }

    /// One series is written once: two metrics of one scope that translate to one name, or a
    /// name one of another family's samples uses, are left out (the first kept).
    #[test]
    fn names_that_would_write_one_series_twice_are_left_out() {
        let provider = crate::metrics::MeterProvider::builder().without_env().build();
        let gateway = provider.meter("gateway");
        gateway.u64_counter("http.requests").build().unwrap().add(1, &[]);
        gateway.u64_counter("http_requests").build().unwrap().add(2, &[]);
        provider.meter("venue").u64_counter("http.requests").build().unwrap().add(3, &[]);
        gateway.u64_counter("orders").build().unwrap().add(4, &[]);
        gateway.i64_gauge("orders_total").build().unwrap().record(5, &[]);
        gateway.f64_histogram("lat").build().unwrap().record(1.0, &[]);
        gateway.i64_gauge("lat_count").build().unwrap().record(6, &[]);
        for format in [Format::Text, Format::OpenMetrics] {
            let text = encode(&provider.snapshot(), None, format);
            let lines = |prefix: &str| text.lines().filter(|line| line.starts_with(prefix)).count();
            assert_eq!(lines("http_requests_total{otel_scope_name=\"gateway\"}"), 1, "{format:?}: {text}");
            assert_eq!(lines("http_requests_total{otel_scope_name=\"venue\"}"), 1, "{format:?}: {text}");
            assert_eq!(lines("orders_total{"), 1, "{format:?}: {text}");
            assert_eq!(lines("lat_count{"), 1, "{format:?}: {text}");
            assert!(text.contains("orders_total{otel_scope_name=\"gateway\"} 4"), "{format:?}: {text}");
        }
    }

    /// Attribute sets that translate to one label set write one sample: a code as a string and as
    /// an integer, keys that differ only in characters a label name cannot hold, a histogram's.
    #[test]
    fn points_whose_labels_translate_alike_are_written_once() {
        use crate::attributes::KeyValue as Kv;
        let provider = crate::metrics::MeterProvider::builder().without_env().build();
        let meter = provider.meter("m");
        let calls = meter.u64_counter("c").build().unwrap();
        calls.add(1, &[Kv::new("code", "200")]);
        calls.add(2, &[Kv::new("code", 200_i64)]);
        let depth = meter.i64_gauge("g").build().unwrap();
        depth.record(1, &[Kv::new("a.b", 1_i64)]);
        depth.record(2, &[Kv::new("a_b", 1_i64)]);
        let latency = meter.f64_histogram("h").build().unwrap();
        latency.record(1.0, &[Kv::new("x", true)]);
        latency.record(2.0, &[Kv::new("x", "true")]);
        // Values alike but for their middles share a fingerprint, and are still two points.
        let notes = meter.u64_counter("n").build().unwrap();
        notes.add(1, &[Kv::new("note", format!("a{}z", "x".repeat(40)))]);
        notes.add(1, &[Kv::new("note", format!("a{}z", "y".repeat(40)))]);
        for format in [Format::Text, Format::OpenMetrics] {
            let text = encode(&provider.snapshot(), None, format);
            let lines = |prefix: &str| text.lines().filter(|line| line.starts_with(prefix)).count();
            assert_eq!(lines("c_total{"), 1, "{format:?}: {text}");
            assert_eq!(lines("g{"), 1, "{format:?}: {text}");
            assert_eq!(lines("h_count{"), 1, "{format:?}: {text}");
            assert_eq!(lines("n_total{"), 2, "{format:?}: {text}");
            // One of the two points, as it was recorded: neither summed with the other nor changed.
            let value = |prefix: &str| text.lines().find(|l| l.starts_with(prefix)).and_then(|l| l.rsplit(' ').next());
            assert!(matches!(value("c_total{code=\"200\",otel_scope_name=\"m\"}"), Some("1" | "2")), "{text}");
            assert!(matches!(value("g{a_b=\"1\",otel_scope_name=\"m\"}"), Some("1" | "2")), "{text}");
            assert_eq!(value("h_count{x=\"true\",otel_scope_name=\"m\"}"), Some("1"), "{text}");
            assert!(matches!(value("h_sum{x=\"true\",otel_scope_name=\"m\"}"), Some("1" | "2")), "{text}");
            assert_eq!(text.lines().filter(|l| l.contains("le=\"+Inf\"")).count(), 1, "{format:?}: {text}");
        }
    }

    /// Attribute values become label text by the specification's non-OTLP representation.
    #[test]
    fn values_become_label_text_as_the_specification_represents_them() {
        let any = |value: Any| AnyValue { value: Some(value) };
        let array = |values: Vec<AnyValue>| any(Any::ArrayValue(crate::proto::common::v1::ArrayValue { values }));
        let map = any(Any::KvlistValue(crate::proto::common::v1::KeyValueList {
            values: vec![KeyValue {
                key: "k\"ey".into(),
                value: Some(any(Any::DoubleValue(f64::NAN))),
                ..Default::default()
            }],
        }));
        let cases = [
            (any(Any::BytesValue(vec![0xab, 0x01])), "qwE="),
            (any(Any::DoubleValue(f64::INFINITY)), "Infinity"),
            (any(Any::DoubleValue(f64::NEG_INFINITY)), "-Infinity"),
            (any(Any::DoubleValue(1.5)), "1.5"),
            (any(Any::StringValue("plain \"as is\"".into())), "plain \"as is\""),
            (
                array(vec![
                    any(Any::StringValue("e\u{301}\0".into())),
                    AnyValue { value: None },
                    any(Any::IntValue(1)),
                ]),
                "[\"e\u{301}\\u0000\",null,1]",
            ),
            (
                array(vec![any(Any::BytesValue(vec![1])), any(Any::DoubleValue(f64::INFINITY))]),
                "[\"AQ==\",\"Infinity\"]",
            ),
            (map, "{\"k\\\"ey\":\"NaN\"}"),
            (AnyValue { value: None }, ""),
        ];
        for (value, text) in cases {
            assert_eq!(value_text(Some(&value)), text, "{value:?}");
        }
    }

    #[test]
    fn array_and_wide_integer_attributes_become_label_text() {
        use crate::attributes::KeyValue as Attribute;
        let provider = crate::metrics::MeterProvider::builder().without_env().build();
        let orders = provider.meter("gateway").u64_counter("orders").build().unwrap();
        orders.add(1, &[Attribute::new("venues", ["XNAS", "XLON"]), Attribute::new("order.id", u64::MAX)]);
        let text = encode(&provider.snapshot(), None, Format::Text);
        assert!(text.contains(r#"order_id="18446744073709551615""#), "{text}");
        assert!(text.contains(r#"venues="[\"XNAS\",\"XLON\"]""#), "{text}");
    }

    #[test]
    fn openmetrics_has_families_units_target_info_and_eof() {
        let provider = crate::metrics::MeterProvider::builder().without_env().build();
        let meter = provider.meter_with_version("gateway", "2");
        meter.u64_counter("sent").with_unit("By").build().unwrap().add(7, &[crate::attributes::KeyValue::new("le", 1)]);
        let latency = meter.f64_histogram("latency").with_unit("s").with_boundaries(vec![0.5, 1e6]).build().unwrap();
        latency.record(0.25, &[]);
        meter.i64_gauge("target_info").build().unwrap().record(5, &[]);
        let kv = |k: &str, v: &str| KeyValue {
            key: k.into(),
            value: Some(AnyValue { value: Some(Any::StringValue(v.into())) }),
            ..Default::default()
        };
        let resource = Resource { attributes: vec![kv("service.name", "gw")], ..Default::default() };
        let text = encode(&provider.snapshot(), Some(&resource), Format::OpenMetrics);
        let scope = "otel_scope_name=\"gateway\",otel_scope_version=\"2\"";
        let expected = [
            "# TYPE target info\n# HELP target Target metadata\ntarget_info{service_name=\"gw\"} 1\n".to_string(),
            "# TYPE sent_bytes counter\n# UNIT sent_bytes bytes\n# HELP sent_bytes sent\n".to_string(),
            format!("sent_bytes_total{{le=\"1\",{scope}}} 7\n"),
            "# TYPE latency_seconds histogram\n# UNIT latency_seconds seconds\n".to_string(),
            format!("latency_seconds_bucket{{{scope},le=\"0.5\"}} 1\n"),
            format!("latency_seconds_bucket{{{scope},le=\"1e+06\"}} 1\n"),
            format!("latency_seconds_bucket{{{scope},le=\"+Inf\"}} 1\n"),
        ];
        for part in expected {
            assert!(text.contains(&part), "{part}\n--- in ---\n{text}");
        }
        assert!(
            text.ends_with("latency_seconds_count{otel_scope_name=\"gateway\",otel_scope_version=\"2\"} 1\n# EOF\n"),
            "{text}"
        );
        assert_eq!(text.matches("target_info").count(), 1, "a user metric cannot take the resource's name: {text}");
        let plain = encode(&provider.snapshot(), Some(&resource), Format::Text);
        assert!(plain.starts_with("# HELP target_info Target metadata\n# TYPE target_info gauge\ntarget_info{service_name=\"gw\"} 1\n# HELP sent_bytes_total sent\n"), "{plain}");
    }

    #[test]
    fn openmetrics_carries_exemplars_on_counters_and_buckets_and_text_has_none() {
        use crate::trace::{Context, SpanContext, SpanId, TraceFlags, TraceId};
        let provider = crate::metrics::MeterProvider::builder().without_env().build();
        let meter = provider.meter("gateway");
        let latency = meter.f64_histogram("latency").with_unit("s").with_boundaries(vec![0.5, 1.0]).build().unwrap();
        let orders = meter.u64_counter("orders").build().unwrap();
        let open = meter.i64_up_down_counter("open").build().unwrap();
        let span = SpanContext::new(
            TraceId::from_bytes([0xab; 16]),
            SpanId::from_bytes([0x0c; 8]),
            TraceFlags::SAMPLED,
            false,
            Default::default(),
        );
        {
            let _entered = Context::from_span_context(span).attach();
            latency.record(0.75, &[]);
            orders.add(3, &[]);
            open.add(1, &[]);
        }
        latency.record(0.25, &[]);
        let text = encode(&provider.snapshot(), None, Format::OpenMetrics);
        let ids = format!("trace_id=\"{}\",span_id=\"{}\"", "ab".repeat(16), "0c".repeat(8));
        let line = |prefix: &str| text.lines().find(|l| l.starts_with(prefix)).unwrap_or_default().to_owned();
        let bucket = line("latency_seconds_bucket{otel_scope_name=\"gateway\",le=\"1.0\"}");
        assert!(
            bucket.starts_with(&format!(
                "latency_seconds_bucket{{otel_scope_name=\"gateway\",le=\"1.0\"}} 2 # {{{ids}}} 0.75 1"
            )),
            "{text}"
        );
        let (_, timestamp) = bucket.rsplit_once(' ').unwrap_or_default();
        assert!(timestamp.parse::<f64>().is_ok_and(|t| t > 1.6e9) && timestamp.contains('.'), "{bucket}");
        assert!(
            !line("latency_seconds_bucket{otel_scope_name=\"gateway\",le=\"0.5\"}").contains('#'),
            "outside a span: none\n{text}"
        );
        assert!(
            line("latency_seconds_bucket{otel_scope_name=\"gateway\",le=\"+Inf\"}")
                .contains(&format!(" # {{{ids}}} 0.75 ")),
            "a bucket without one shows a lower bucket's\n{text}"
        );
        assert!(line("orders_total").contains(&format!(" 3 # {{{ids}}} 3 ")), "{text}");
        assert!(!line("open{").contains('#'), "no exemplars on gauges\n{text}");
        assert!(!encode(&provider.snapshot(), None, Format::Text).contains(" # "), "none in the text format");
    }

    /// OpenMetrics has a histogram's `_sum` and `_count` together, and neither with a negative sum
    /// or negative bounds; the text format always has `_count`.
    #[test]
    fn histogram_sums_are_left_out_where_openmetrics_forbids_them() {
        let as_histogram = crate::metrics::Aggregation::ExplicitBucketHistogram { boundaries: vec![0.0] };
        let view = crate::metrics::View::new("open").with_aggregation(as_histogram);
        let provider = crate::metrics::MeterProvider::builder().without_env().with_view(view).build();
        let meter = provider.meter("gateway");
        meter.f64_histogram("temp").build().unwrap().record(-5.0, &[]);
        let skewed = meter.f64_histogram("skew").with_boundaries(vec![-10.0, 0.0, 10.0]).build().unwrap();
        skewed.record(3.0, &[]);
        meter.f64_histogram("fine").build().unwrap().record(2.0, &[]);
        meter.i64_up_down_counter("open").build().unwrap().add(1, &[]);
        let open_metrics = encode(&provider.snapshot(), None, Format::OpenMetrics);
        for name in ["temp", "skew"] {
            assert!(!open_metrics.contains(&format!("{name}_sum")), "{open_metrics}");
            assert!(!open_metrics.contains(&format!("{name}_count")), "{open_metrics}");
        }
        assert!(open_metrics.contains("fine_sum{otel_scope_name=\"gateway\"} 2\n"), "{open_metrics}");
        assert!(open_metrics.contains("fine_count{otel_scope_name=\"gateway\"} 1\n"), "{open_metrics}");
        let text = encode(&provider.snapshot(), None, Format::Text);
        assert!(text.contains("temp_sum{otel_scope_name=\"gateway\"} -5\n"), "{text}");
        for name in ["temp", "skew", "fine", "open"] {
            assert!(text.contains(&format!("{name}_count{{otel_scope_name=\"gateway\"}} 1\n")), "{text}");
        }
        assert!(!text.contains("open_sum") && !open_metrics.contains("open_count"), "{text}");
    }

    /// With a resource that has no attributes (no `target_info`), metrics of several scopes still
    /// share their family.
    #[test]
    fn scopes_share_a_family_beside_an_empty_resource() {
        let provider = crate::metrics::MeterProvider::builder().without_env().build();
        provider.meter("a").u64_counter("orders").build().unwrap().add(1, &[]);
        provider.meter("b").u64_counter("orders").build().unwrap().add(2, &[]);
        let text = encode(&provider.snapshot(), Some(&Resource::default()), Format::Text);
        assert!(text.contains("orders_total{otel_scope_name=\"a\"} 1\n"), "{text}");
        assert!(text.contains("orders_total{otel_scope_name=\"b\"} 2\n"), "{text}");
    }

    /// A summary handed over by a source of one's own becomes a summary family: a sample per
    /// quantile, `_sum` and `_count`.
    #[test]
    fn a_summary_from_a_source_becomes_a_summary_family() {
        use crate::proto::metrics::v1::{summary_data_point::ValueAtQuantile, Summary, SummaryDataPoint};
        let point = SummaryDataPoint {
            count: 2,
            sum: 3.0,
            quantile_values: vec![
                ValueAtQuantile { quantile: 0.5, value: 1.0 },
                ValueAtQuantile { quantile: 1.0, value: 2.0 },
            ],
            ..Default::default()
        };
        let metric = Metric {
            name: "rpc".into(),
            unit: "s".into(),
            data: Some(Data::Summary(Summary { data_points: vec![point] })),
            ..Default::default()
        };
        let scope = crate::proto::common::v1::InstrumentationScope { name: "src".into(), ..Default::default() };
        let scopes = [ScopeMetrics { scope: Some(scope), metrics: vec![metric], ..Default::default() }];
        for format in [Format::Text, Format::OpenMetrics] {
            let text = encode(&scopes, None, format);
            assert!(text.contains("# TYPE rpc_seconds summary\n"), "{text}");
            for line in [
                "rpc_seconds{otel_scope_name=\"src\",quantile=\"0.5\"} 1\n",
                "rpc_seconds{otel_scope_name=\"src\",quantile=\"1\"} 2\n",
                "rpc_seconds_sum{otel_scope_name=\"src\"} 3\n",
                "rpc_seconds_count{otel_scope_name=\"src\"} 2\n",
            ] {
                assert!(text.contains(line), "{format:?}: {line}\n{text}");
            }
        }
    }

    /// An exemplar's filtered attributes follow its ids as labels, in order, while the label set
    /// stays within OpenMetrics' 128 characters: a pair that would pass it is left out, a later
    /// shorter one still fits.
    #[test]
    fn exemplar_labels_stay_within_the_openmetrics_limit() {
        use crate::attributes::KeyValue as Attribute;
        let exemplar = Exemplar {
            trace_id: vec![0xab; 16],
            span_id: vec![0x0c; 8],
            time_unix_nano: 1_700_000_000_000_000_000,
            value: Some(exemplar::Value::AsInt(5)),
            filtered_attributes: [
                Attribute::new("order.id", 4217),
                Attribute::new("client", "x".repeat(60)),
                Attribute::new("trace_id", "clash"),
                Attribute::new("side", "buy"),
                Attribute::new("desk", "fx-options-emea"),
            ]
            .iter()
            .map(Attribute::to_proto)
            .collect(),
        };
        let mut out = String::new();
        write_exemplar(&mut out, &exemplar);
        let ids = format!("trace_id=\"{}\",span_id=\"{}\"", "ab".repeat(16), "0c".repeat(8));
        // The ids take 63 characters; order_id=4217 12 (75); client's 66 would pass 128; the
        // repeated trace_id is left out; side=buy 7 (82); desk's 19 (101).
        assert_eq!(
            out,
            format!(" # {{{ids},order_id=\"4217\",side=\"buy\",desk=\"fx-options-emea\"}} 5 1700000000.000000000")
        );
        let labels = out.split(['{', '}']).nth(1).unwrap_or_default();
        let chars: usize = labels.split(',').map(|label| label.replace(['=', '"'], "").chars().count()).sum();
        assert!(chars <= EXEMPLAR_LABEL_CHARS, "{chars}");
        // Without ids, the pairs have the whole limit: the client fits.
        let mut out = String::new();
        write_exemplar(&mut out, &Exemplar { trace_id: vec![], span_id: vec![], ..exemplar });
        assert!(out.contains(&format!("client=\"{}\"", "x".repeat(60))), "{out}");
    }
}
