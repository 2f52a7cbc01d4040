//! The Prometheus view against `promtool check metrics` (Debian package `prometheus`, installed
//! by scripts/test.sh, which names it in `NANOTEL_PROMTOOL`).

use nanotel::attributes::KeyValue;
use nanotel::metrics::{Aggregation, MeterProvider, View};
use nanotel::prometheus::Format;
use nanotel::proto::metrics::v1::{metric, number_data_point, Gauge, Metric, NumberDataPoint, ScopeMetrics};

#[path = "support/promtool.rs"]
mod promtool;

use promtool::assert_promtool_accepts;

fn exposition() -> String {
    // A counter and an up-down counter as histograms (the latter without `_sum` and `_count`).
    let buckets = |boundaries: Vec<f64>| Aggregation::ExplicitBucketHistogram { boundaries };
    let provider = MeterProvider::builder()
        .without_env()
        .with_view(View::new("fills").with_aggregation(buckets(vec![1.0, 10.0])))
        .with_view(View::new("inflight").with_aggregation(buckets(vec![0.0])))
        .build();
    let meter = provider.meter_with_version("gateway", "1.2.3");
    meter.u64_counter("fills").build().unwrap().add(5, &[]);
    meter.i64_up_down_counter("inflight").build().unwrap().add(-1, &[]);
    let attrs =
        [KeyValue::new("venue", "XNAS"), KeyValue::new("order.side", "buy"), KeyValue::new("note", "a \"q\"\\\n")];
    let orders = meter.u64_counter("orders").with_unit("{order}").with_description("Orders sent.\nPer venue.").build();
    orders.unwrap().add(3, &attrs);
    meter.f64_counter("traded.volume").with_unit("By").build().unwrap().add(1.5, &attrs);
    meter.i64_up_down_counter("orders.open").with_description("Open orders").build().unwrap().add(-4, &attrs);
    let spread = meter.f64_gauge("quote.spread").with_description("Spread").build().unwrap();
    spread.record(0.25, &attrs);
    // Left out (and counted): the gauge keeps its value.
    spread.record(f64::NAN, &attrs);
    let latency = meter.f64_histogram("order.latency").with_unit("s").with_description("Latency").build().unwrap();
    for v in [0.0, 0.5, 7.0, 1e5] {
        latency.record(v, &attrs);
    }
    // Another scope exposing the same metric name: one family, two series.
    provider.meter("venues").u64_counter("orders").with_unit("{order}").build().unwrap().add(1, &[]);
    // An exponential histogram has no text form and is left out.
    meter.f64_histogram("fine").with_exponential_buckets().build().unwrap().record(1.0, &[]);
    provider
        .meter("gateway2")
        .i64_observable_gauge("cpu.core")
        .with_callback(|o| o.observe(3, &[KeyValue::new("0core", 1)]))
        .build()
        .unwrap();
    nanotel::prometheus::render(&provider) + &nan_from_a_source()
}

/// A gauge point whose value is NaN, as a program's own source may hand one (nanotel's gauges
/// leave NaN out since session 39): its text form must pass promtool too.
fn nan_from_a_source() -> String {
    let point = NumberDataPoint { value: Some(number_data_point::Value::AsDouble(f64::NAN)), ..Default::default() };
    let data = Some(metric::Data::Gauge(Gauge { data_points: vec![point] }));
    let scope = ScopeMetrics {
        metrics: vec![Metric { name: "quote.mid".into(), data, ..Default::default() }],
        ..Default::default()
    };
    nanotel::prometheus::encode(&[scope], None, Format::Text)
}

#[test]
fn exposition_has_the_expected_families() {
    let text = exposition();
    assert!(text.ends_with('\n'));
    assert!(text.contains("# HELP orders_total Orders sent.\\nPer venue.\n# TYPE orders_total counter\n"), "{text}");
    assert!(
        text.contains(
            "orders_total{note=\"a \\\"q\\\"\\\\\\n\",order_side=\"buy\",venue=\"XNAS\",otel_scope_name=\"gateway\",otel_scope_version=\"1.2.3\"} 3\n"
        ),
        "{text}"
    );
    assert!(text.contains("orders_total{otel_scope_name=\"venues\"} 1\n"), "{text}");
    assert_eq!(text.matches("# TYPE orders_total").count(), 1);
    assert!(text.contains("# TYPE traded_volume_bytes_total counter"), "{text}");
    assert!(text.contains("# TYPE orders_open gauge"), "{text}");
    assert!(text.contains(",otel_scope_version=\"1.2.3\"} 0.25\n") && text.contains("quote_mid NaN\n"), "{text}");
    assert!(text.contains("# TYPE order_latency_seconds histogram"), "{text}");
    assert!(text.contains(",le=\"0\"} 1\n") && text.contains(",le=\"10000\"} 3\n"), "{text}");
    assert!(text.contains(",le=\"+Inf\"} 4\n") && text.contains("order_latency_seconds_count{"), "{text}");
    assert!(text.contains("cpu_core{key_0core=\"1\",otel_scope_name=\"gateway2\"} 3\n"), "{text}");
    assert!(!text.contains("fine"), "{text}");
    assert!(
        text.contains("# TYPE fills histogram")
            && text.contains("fills_bucket{otel_scope_name=\"gateway\",otel_scope_version=\"1.2.3\",le=\"10\"} 1\n"),
        "{text}"
    );
    assert!(
        // No sum for an up-down counter's histogram; the text format has `_count` all the same
        // (since session 40: the specification's "a single `_count`").
        text.contains("# TYPE inflight histogram")
            && !text.contains("inflight_sum")
            && text.contains("inflight_count{otel_scope_name=\"gateway\",otel_scope_version=\"1.2.3\"} 1\n"),
        "{text}"
    );
}

#[test]
fn promtool_accepts_the_exposition() {
    assert_promtool_accepts(&exposition());
}
