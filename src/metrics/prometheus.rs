//! Prometheus text exposition format 0.0.4 from collected metrics, with the OTLP → Prometheus
//! translation of OTLP-NOTES §9.5 (`UnderscoreEscapingWithSuffixes`):
//!
//! - names: characters outside `[a-zA-Z0-9_:]` become `_` (runs collapsed), then the unit's word
//!   (`s` → `seconds`, `By/s` → `bytes_per_second`, `{order}` → nothing; unit `1` adds nothing, as
//!   the specification now says), then `_total` for counters;
//! - monotonic cumulative sums are counters, other cumulative sums and gauges are gauges,
//!   cumulative explicit histograms are histograms; delta sums and histograms (under a delta
//!   temporality preference) and exponential histograms have no 0.0.4 form and are left out;
//! - attribute keys become labels the same way (a leading digit gets `key_`; keys that collide
//!   after translation have their values joined with `;` in key order), followed by
//!   `otel_scope_name` and `otel_scope_version`;
//! - `# HELP` is the description, or the OTel name when there is none (so `promtool check
//!   metrics` finds no missing help text);
//! - no `target_info`: the resource belongs to the export pipeline, not to the meter provider.
//!
//! ```
//! use nanotel::metrics::prometheus::metric_name;
//!
//! assert_eq!(metric_name("http.server.request.duration", "s", false), "http_server_request_duration_seconds");
//! assert_eq!(metric_name("foo.bar", "By", true), "foo_bar_bytes_total");
//! assert_eq!(metric_name("net.io", "By/s", false), "net_io_bytes_per_second");
//! assert_eq!(metric_name("orders", "{order}", true), "orders_total");
//! ```

use std::collections::HashMap;
use std::fmt::Write;

use crate::proto::common::v1::{any_value::Value as Any, AnyValue, KeyValue};
use crate::proto::metrics::v1::{metric::Data, number_data_point::Value as PointValue, AggregationTemporality};
use crate::proto::metrics::v1::{Metric, ScopeMetrics};

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
pub fn metric_name(name: &str, unit: &str, counter: bool) -> String {
    let mut out = sanitize(name, true);
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    let suffix = unit_suffix(unit);
    if !suffix.is_empty() && !out.ends_with(&format!("_{suffix}")) && out != suffix {
        out.push('_');
        out.push_str(&suffix);
    }
    if counter && !out.ends_with("_total") {
        out.push_str("_total");
    }
    out
}

fn label_name(key: &str) -> String {
    let out = sanitize(key, false);
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        format!("key_{out}")
    } else {
        out
    }
}

/// An attribute value as label text (OTel's non-OTLP rules: JSON-like for composites).
fn value_text(value: Option<&AnyValue>) -> String {
    let mut out = String::new();
    write_value(&mut out, value.and_then(|v| v.value.as_ref()), false);
    out
}

fn write_value(out: &mut String, value: Option<&Any>, nested: bool) {
    match value {
        // A string-table reference only means something in a profile's dictionary.
        None | Some(Any::StringValueStrindex(_)) => {}
        Some(Any::StringValue(s)) if nested => {
            let _ = write!(out, "{s:?}");
        }
        Some(Any::StringValue(s)) => out.push_str(s),
        Some(Any::BoolValue(b)) => {
            let _ = write!(out, "{b}");
        }
        Some(Any::IntValue(i)) => {
            let _ = write!(out, "{i}");
        }
        Some(Any::DoubleValue(d)) => out.push_str(&number(*d)),
        Some(Any::BytesValue(bytes)) => bytes.iter().for_each(|b| {
            let _ = write!(out, "{b:02x}");
        }),
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
                let _ = write!(out, "{:?}:", kv.key);
                write_value(out, kv.value.as_ref().and_then(|v| v.value.as_ref()), true);
            }
            out.push('}');
        }
    }
}

/// A sample value as Go's ParseFloat reads it.
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

/// The label set of a point: translated attributes (collisions joined), then the scope labels.
fn labels(attributes: &[KeyValue], scope: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut translated: Vec<(String, &str, String)> =
        attributes.iter().map(|kv| (label_name(&kv.key), kv.key.as_str(), value_text(kv.value.as_ref()))).collect();
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
    out.extend(scope.iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| (k.to_string(), v.to_string())));
    out
}

fn write_sample(out: &mut String, name: &str, labels: &[(String, String)], extra: Option<(&str, &str)>, value: &str) {
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
    let _ = writeln!(out, " {value}");
}

struct Family {
    name: String,
    kind: &'static str,
    help: String,
    samples: String,
}

/// The family a metric belongs to, and its samples, or `None` for a metric with no 0.0.4 form.
fn translate(metric: &Metric, scope: &[(&str, &str)]) -> Option<Family> {
    let cumulative = AggregationTemporality::Cumulative as i32;
    let (kind, counter) = match metric.data.as_ref()? {
        Data::Sum(sum) if sum.aggregation_temporality != cumulative => return None,
        Data::Sum(sum) if sum.is_monotonic => ("counter", true),
        Data::Sum(_) | Data::Gauge(_) => ("gauge", false),
        Data::Histogram(h) if h.aggregation_temporality == cumulative => ("histogram", false),
        _ => return None,
    };
    let name = metric_name(&metric.name, &metric.unit, counter);
    let help = if metric.description.is_empty() { &metric.name } else { &metric.description };
    let mut samples = String::new();
    match metric.data.as_ref()? {
        Data::Sum(sum) => {
            for p in &sum.data_points {
                write_sample(&mut samples, &name, &labels(&p.attributes, scope), None, &point_value(p.value));
            }
        }
        Data::Gauge(gauge) => {
            for p in &gauge.data_points {
                write_sample(&mut samples, &name, &labels(&p.attributes, scope), None, &point_value(p.value));
            }
        }
        Data::Histogram(histogram) => {
            let bucket = format!("{name}_bucket");
            for p in &histogram.data_points {
                let labels = labels(&p.attributes, scope);
                let mut running = 0u64;
                for (bound, count) in p.explicit_bounds.iter().zip(&p.bucket_counts) {
                    running += count;
                    write_sample(&mut samples, &bucket, &labels, Some(("le", &number(*bound))), &running.to_string());
                }
                write_sample(&mut samples, &bucket, &labels, Some(("le", "+Inf")), &p.count.to_string());
                write_sample(&mut samples, &format!("{name}_sum"), &labels, None, &number(p.sum.unwrap_or(0.0)));
                write_sample(&mut samples, &format!("{name}_count"), &labels, None, &p.count.to_string());
            }
        }
        _ => return None,
    }
    Some(Family { name, kind, help: help.replace('\\', r"\\").replace('\n', r"\n"), samples })
}

/// The text exposition of `scopes`. Metrics of several scopes that translate to one name share
/// one family; a metric whose name is already taken by another type is left out (with a warning).
pub(crate) fn render(scopes: &[ScopeMetrics]) -> String {
    let mut families: Vec<Family> = Vec::new();
    let mut by_name: HashMap<String, usize> = HashMap::new();
    for scope_metrics in scopes {
        let (scope_name, scope_version) =
            scope_metrics.scope.as_ref().map_or(("", ""), |s| (s.name.as_str(), s.version.as_str()));
        let scope = [("otel_scope_name", scope_name), ("otel_scope_version", scope_version)];
        for metric in &scope_metrics.metrics {
            let Some(family) = translate(metric, &scope) else { continue };
            match by_name.get(&family.name) {
                Some(&i) if families[i].kind == family.kind => families[i].samples.push_str(&family.samples),
                Some(_) => crate::diag::warning!(
                    "Prometheus view: {:?} translates to {:?}, already used by another metric type; left out",
                    metric.name,
                    family.name
                ),
                None => {
                    by_name.insert(family.name.clone(), families.len());
                    families.push(family);
                }
            }
        }
    }
    let mut out = String::new();
    for family in families {
        let _ = writeln!(out, "# HELP {} {}", family.name, family.help);
        let _ = writeln!(out, "# TYPE {} {}", family.name, family.kind);
        out.push_str(&family.samples);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_labels_translate() {
        assert_eq!(metric_name("a..b--c", "", false), "a_b_c");
        assert_eq!(metric_name("latency_seconds", "s", false), "latency_seconds");
        assert_eq!(metric_name("ratio", "1", false), "ratio");
        assert_eq!(metric_name("pkts", "{packet}/s", true), "pkts_per_second_total");
        assert_eq!(metric_name("requests_total", "", true), "requests_total");
        assert_eq!(metric_name("temp", "Cel", false), "temp_celsius");
        assert_eq!(label_name("http.method"), "http_method");
        assert_eq!(label_name("0day"), "key_0day");
        let kv = |k: &str, v: &str| KeyValue {
            key: k.into(),
            value: Some(AnyValue { value: Some(Any::StringValue(v.into())) }),
            ..Default::default()
        };
        let joined = labels(&[kv("a.b", "2"), kv("a_b", "1"), kv("z", "q\"\n")], &[("otel_scope_name", "s")]);
        assert_eq!(joined[0], ("a_b".to_string(), "2;1".to_string()));
        let mut line = String::new();
        write_sample(&mut line, "m", &joined, None, "1");
        assert_eq!(line, "m{a_b=\"2;1\",z=\"q\\\"\\n\",otel_scope_name=\"s\"} 1\n");
        assert_eq!(
            (number(f64::INFINITY), number(-0.5), number(1e21)),
            ("+Inf".into(), "-0.5".into(), "1000000000000000000000".into())
        );
    }
}
