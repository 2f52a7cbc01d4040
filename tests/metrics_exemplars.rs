//! Exemplars end to end: spans and metrics recorded by real providers, exported by a real
//! pipeline to the loopback collector, decoded there. Each exemplar carries the trace and span id
//! the exporter sent for the span that was current when the value was recorded; the requests
//! pass the official Python OTLP classes (protobuf and OTLP/JSON) when they are available.

#[path = "conformance/oracle.rs"]
mod oracle;

#[path = "support/metrics_pipeline.rs"]
mod metrics_pipeline;
use metrics_pipeline::flush_only_metrics;
#[path = "support/otlp_attributes.rs"]
mod otlp_attributes;
use otlp_attributes::key_value_text;

use std::time::Duration;

use nanotel::attributes::KeyValue;
use nanotel::export::{Pipeline, Protocol};
use nanotel::metrics::{ExemplarFilter, MeterProvider, TemporalityPreference, View, FILTERED_LEFT_OUT_KEY};
use nanotel::proto::collector::metrics::v1::ExportMetricsServiceRequest;
use nanotel::proto::metrics::v1::metric::Data;
use nanotel::proto::metrics::v1::{exemplar, Exemplar, Metric};
use nanotel::proto::trace::v1::Span as OtlpSpan;
use nanotel::trace::{Sampler, TracerProvider};
use nanotel_testing::TestCollector;

const WAIT: Duration = Duration::from_secs(10);

/// A pipeline to a fresh collector that collects metrics only when flushed.
fn pipeline(collector: &TestCollector, protocol: Protocol) -> Pipeline {
    flush_only_metrics(collector).with_protocol(protocol).build().unwrap()
}

/// The metrics and spans the collector has received so far. The metrics requests are checked
/// against the official decoders on the way.
fn received(collector: &TestCollector) -> (Vec<Metric>, Vec<OtlpSpan>) {
    let (mut metrics, mut spans) = (Vec::new(), Vec::new());
    for request in collector.received().into_iter().filter_map(|r| r.request.ok()) {
        if let Some(request) = request.as_metrics() {
            let scopes = request.resource_metrics.iter().flat_map(|r| &r.scope_metrics);
            metrics.extend(scopes.flat_map(|s| s.metrics.clone()));
            check_with_the_official_decoders(request);
        }
        if let Some(request) = request.as_traces() {
            let scopes = request.resource_spans.iter().flat_map(|r| &r.scope_spans);
            spans.extend(scopes.flat_map(|s| s.spans.clone()));
        }
    }
    (metrics, spans)
}

fn check_with_the_official_decoders(request: &ExportMetricsServiceRequest) {
    let Some(oracle) = oracle::Oracle::get() else { return };
    oracle::check_protobuf(&oracle, request, false);
    oracle::check_json(&oracle, request);
}

fn metric<'a>(metrics: &'a [Metric], name: &str) -> &'a Data {
    let found = metrics.iter().rev().find(|m| m.name == name);
    found.and_then(|m| m.data.as_ref()).unwrap_or_else(|| panic!("no metric {name} in {metrics:?}"))
}

/// The exemplars of every point of a metric, in order.
fn exemplars(data: &Data) -> Vec<Vec<Exemplar>> {
    match data {
        Data::Sum(sum) => sum.data_points.iter().map(|p| p.exemplars.clone()).collect(),
        Data::Histogram(h) => h.data_points.iter().map(|p| p.exemplars.clone()).collect(),
        Data::ExponentialHistogram(h) => h.data_points.iter().map(|p| p.exemplars.clone()).collect(),
        other => panic!("no exemplars in {other:?}"),
    }
}

fn value(exemplar: &Exemplar) -> f64 {
    match exemplar.value {
        Some(exemplar::Value::AsDouble(d)) => d,
        Some(exemplar::Value::AsInt(i)) => i as f64,
        None => f64::NAN,
    }
}

/// A trace id and a span id as exported.
type ExportedIds = (Vec<u8>, Vec<u8>);

/// Values recorded inside and outside a sampled span, for every instrument that keeps exemplars.
/// Returns the span's exported ids.
fn record_around_a_span(protocol: Protocol, filter: ExemplarFilter) -> (Vec<Metric>, Option<ExportedIds>) {
    let collector = TestCollector::start().unwrap();
    let pipeline = pipeline(&collector, protocol);
    let tracers = TracerProvider::builder().without_env().with_sampler(Sampler::AlwaysOn).build();
    tracers.attach(&pipeline);
    let meters = MeterProvider::builder().without_env().with_exemplar_filter(filter).build();
    meters.attach(&pipeline);
    let meter = meters.meter("desk");
    let latency = meter.u64_histogram("tick.to.trade").with_unit("ns").with_boundaries(vec![100.0, 1000.0]).build();
    let latency = latency.unwrap();
    let fine = meter.f64_histogram("tick.to.trade.fine").with_unit("s").with_exponential_buckets().build().unwrap();
    let orders = meter.u64_counter("orders").build().unwrap();
    let notional = meter.f64_counter("notional").build().unwrap();
    let venue = [KeyValue::new("venue", "XNAS")];
    let bound = latency.bind(&venue);

    // Outside any span: the first bucket.
    bound.record(50);
    fine.record(0.5, &[]);
    let tracer = tracers.tracer("desk");
    let span = tracer.span("order").start();
    {
        let _entered = span.enter();
        bound.record(500);
        latency.record(5000, &venue);
        fine.record(2.0, &[]);
        orders.add(3, &venue);
        notional.add(1.5, &venue);
    }
    drop(span);
    pipeline.force_flush(WAIT).unwrap();
    let (metrics, spans) = received(&collector);
    pipeline.shutdown(WAIT);
    let ids = spans.iter().find(|s| s.name == "order").map(|s| (s.trace_id.clone(), s.span_id.clone()));
    (metrics, ids)
}

/// Trace-based (the default): the values recorded inside the sampled span, and only those, are
/// exemplars, each with the ids the exporter sent for that span; an explicit histogram keeps one
/// per bucket.
#[test]
fn exemplars_carry_the_exported_span_ids_under_the_trace_based_filter() {
    for protocol in [Protocol::HttpProtobuf, Protocol::HttpJson] {
        let (metrics, ids) = record_around_a_span(protocol, ExemplarFilter::TraceBased);
        let (trace_id, span_id) = ids.expect("the span was exported");
        assert_eq!((trace_id.len(), span_id.len()), (16, 8));
        let from_span = |e: &Exemplar| e.trace_id == trace_id && e.span_id == span_id;

        let histogram = exemplars(metric(&metrics, "tick.to.trade"));
        let values: Vec<f64> = histogram[0].iter().map(value).collect();
        assert_eq!(values, [500.0, 5000.0], "buckets 2 and 3, not the first ({protocol:?})");
        assert!(histogram[0].iter().all(from_span), "{histogram:?}");
        assert!(histogram[0].iter().all(|e| matches!(e.value, Some(exemplar::Value::AsInt(_)))));
        assert!(histogram[0].iter().all(|e| e.time_unix_nano > 1_600_000_000_000_000_000));

        let fine = exemplars(metric(&metrics, "tick.to.trade.fine"));
        assert_eq!(fine[0].iter().map(value).collect::<Vec<_>>(), [2.0], "{protocol:?}");
        assert!(fine[0].iter().all(from_span));

        let orders = exemplars(metric(&metrics, "orders"));
        assert_eq!(orders[0].iter().map(value).collect::<Vec<_>>(), [3.0]);
        assert!(orders[0].iter().all(from_span) && matches!(orders[0][0].value, Some(exemplar::Value::AsInt(3))));
        let notional = exemplars(metric(&metrics, "notional"));
        assert_eq!(notional[0].iter().map(value).collect::<Vec<_>>(), [1.5]);
        assert!(
            notional[0].iter().all(from_span) && matches!(notional[0][0].value, Some(exemplar::Value::AsDouble(_)))
        );
    }
}

/// Always-on keeps values recorded outside any span too, without ids; always-off keeps none.
#[test]
fn always_on_keeps_every_value_and_always_off_none() {
    let (metrics, ids) = record_around_a_span(Protocol::HttpProtobuf, ExemplarFilter::AlwaysOn);
    let (trace_id, _) = ids.expect("the span was exported");
    let histogram = exemplars(metric(&metrics, "tick.to.trade"));
    let found: Vec<(f64, bool)> = histogram[0].iter().map(|e| (value(e), e.trace_id == trace_id)).collect();
    assert_eq!(found, [(50.0, false), (500.0, true), (5000.0, true)]);
    assert!(histogram[0][0].trace_id.is_empty() && histogram[0][0].span_id.is_empty(), "no span, no ids");
    let mut fine: Vec<f64> = exemplars(metric(&metrics, "tick.to.trade.fine"))[0].iter().map(value).collect();
    fine.sort_by(f64::total_cmp);
    assert_eq!(fine, [0.5, 2.0]);

    let (metrics, _) = record_around_a_span(Protocol::HttpProtobuf, ExemplarFilter::AlwaysOff);
    for name in ["tick.to.trade", "tick.to.trade.fine", "orders", "notional"] {
        assert!(exemplars(metric(&metrics, name)).iter().all(Vec::is_empty), "{name}");
    }
}

/// Under delta temporality each window has its own exemplars: a collection empties the
/// reservoirs. Cumulative ones keep theirs. The filter also comes from
/// `OTEL_METRICS_EXEMPLAR_FILTER`.
#[test]
fn delta_windows_start_without_exemplars() {
    let tracers = TracerProvider::builder().without_env().with_sampler(Sampler::AlwaysOn).build();
    let tracer = tracers.tracer("desk");
    for preference in [TemporalityPreference::Delta, TemporalityPreference::Cumulative] {
        let meters = MeterProvider::builder()
            .with_env_lookup(|name| (name == "OTEL_METRICS_EXEMPLAR_FILTER").then(|| "trace_based".into()))
            .with_temporality(preference)
            .build();
        let meter = meters.meter("desk");
        let latency = meter.f64_histogram("latency").build().unwrap();
        let fine = meter.f64_histogram("latency.fine").with_exponential_buckets().build().unwrap();
        let orders = meter.u64_counter("orders").build().unwrap();
        let span = tracer.span("order").start();
        {
            let _entered = span.enter();
            latency.record(1.0, &[]);
            fine.record(1.0, &[]);
            orders.add(1, &[]);
        }
        let count = |scopes: &[nanotel::proto::metrics::v1::ScopeMetrics], name: &str| {
            let metrics: Vec<Metric> = scopes.iter().flat_map(|s| s.metrics.clone()).collect();
            exemplars(metric(&metrics, name)).iter().map(Vec::len).sum::<usize>()
        };
        let first = meters.collect();
        for name in ["latency", "latency.fine", "orders"] {
            assert_eq!(count(&first, name), 1, "{name} {preference:?}");
        }
        // The next window: values outside any span.
        latency.record(1.0, &[]);
        fine.record(1.0, &[]);
        orders.add(1, &[]);
        let second = meters.collect();
        let expected = usize::from(preference == TemporalityPreference::Cumulative);
        for name in ["latency", "latency.fine", "orders"] {
            assert_eq!(count(&second, name), expected, "{name} {preference:?}");
        }
        if preference == TemporalityPreference::Delta {
            // A window whose only add is 0 makes no point, but its exemplar does not carry over
            // to the next window's point (until session 41 it did: the reservoir was left as it
            // was when no point was made).
            {
                let _entered = span.enter();
                orders.add(0, &[]);
            }
            let scopes = meters.collect();
            assert!(scopes.iter().flat_map(|s| &s.metrics).all(|m| m.name != "orders"), "no point: {scopes:?}");
            orders.add(5, &[]);
            assert_eq!(count(&meters.collect(), "orders"), 0, "the 0's exemplar is not this window's");
        }
    }
}

/// A cumulative series' exemplars follow its newest measurements: each exporting collection
/// restarts the reservoirs' count, so the first value after it is kept (the specification's
/// reset "every collection cycle"). Until session 40 the count ran on: after 10,000 adds a new
/// one replaced the exemplar one time in 10,001. A scrape-like look restarts nothing.
#[test]
fn cumulative_exemplars_follow_the_newest_measurements() {
    let meters = MeterProvider::builder()
        .without_env()
        .with_exemplar_filter(ExemplarFilter::AlwaysOn)
        .with_temporality(TemporalityPreference::Cumulative)
        .build();
    let meter = meters.meter("desk");
    let orders = meter.u64_counter("orders").build().unwrap();
    let fine = meter.f64_histogram("latency.fine").with_exponential_buckets().build().unwrap();
    for value in 1..=10_000 {
        orders.add(value, &[]);
        fine.record(value as f64, &[]);
    }
    meters.collect();
    orders.add(777_777, &[]);
    fine.record(777_777.0, &[]);
    let looked = meters.snapshot();
    let values = |scopes: &[nanotel::proto::metrics::v1::ScopeMetrics], name: &str| {
        let metrics: Vec<Metric> = scopes.iter().flat_map(|s| s.metrics.clone()).collect();
        exemplars(metric(&metrics, name)).concat().iter().map(value).collect::<Vec<f64>>()
    };
    for name in ["orders", "latency.fine"] {
        assert!(values(&looked, name).contains(&777_777.0), "{name}: {:?}", values(&looked, name));
    }
}

/// The in-process OTLP/JSON view shows exemplars with the ids in hex, as OTLP/JSON has them.
#[test]
fn the_json_view_shows_exemplar_ids_in_hex() {
    let tracers = TracerProvider::builder().without_env().with_sampler(Sampler::AlwaysOn).build();
    let meters = MeterProvider::builder().without_env().build();
    let latency = meters.meter("desk").f64_histogram("latency").build().unwrap();
    let span = tracers.tracer("desk").span("order").start();
    let context = span.context().clone();
    {
        let _entered = span.enter();
        latency.record(7.0, &[]);
    }
    let json: serde_json::Value = serde_json::from_str(&meters.to_json()).unwrap();
    let point = &json["resourceMetrics"][0]["scopeMetrics"][0]["metrics"][0]["histogram"]["dataPoints"][0];
    let exemplar = &point["exemplars"][0];
    assert_eq!(exemplar["traceId"], context.trace_id().to_string(), "{json}");
    assert_eq!(exemplar["spanId"], context.span_id().to_string(), "{json}");
    assert_eq!(exemplar["asDouble"], 7.0, "{json}");
    assert!(exemplar["timeUnixNano"].as_str().is_some_and(|t| t.len() >= 19), "{json}");
}

/// An exemplar's filtered attributes as `key=value` text, in order.
fn filtered(exemplar: &Exemplar) -> Vec<String> {
    exemplar.filtered_attributes.iter().map(key_value_text).collect()
}

/// The attributes a view removed come with each exemplar, through the wire (protobuf and JSON,
/// checked by the official decoders): a bound handle's all of them; an unbound record's first
/// four, of any type (text made at run time too), with the count of the others in one more pair.
/// The series themselves are aggregated without them.
#[test]
fn exemplars_carry_the_attributes_a_view_removed() {
    for protocol in [Protocol::HttpProtobuf, Protocol::HttpJson] {
        let collector = TestCollector::start().unwrap();
        let pipeline = pipeline(&collector, protocol);
        let tracers = TracerProvider::builder().without_env().with_sampler(Sampler::AlwaysOn).build();
        let meters = MeterProvider::builder()
            .without_env()
            .with_view(View::new("tick.to.trade*").with_dropped_attributes(["order.id", "client"]))
            .with_view(View::new("orders").with_kept_attributes(["venue"]))
            .build();
        meters.attach(&pipeline);
        let meter = meters.meter("desk");
        let latency = meter.u64_histogram("tick.to.trade").with_boundaries(vec![100.0, 1000.0]).build().unwrap();
        let fine = meter.f64_histogram("tick.to.trade.fine").with_exponential_buckets().build().unwrap();
        let orders = meter.u64_counter("orders").build().unwrap();
        let client = KeyValue::new("client", String::from("acme"));
        let bound = latency.bind(&[KeyValue::new("venue", "XNAS"), KeyValue::new("order.id", 7), client.clone()]);
        let span = tracers.tracer("desk").span("order").start();
        {
            let _entered = span.enter();
            bound.record(50);
            latency.record(500, &[KeyValue::new("order.id", 42), client.clone(), KeyValue::new("venue", "XNAS")]);
            fine.record(2.0, &[KeyValue::new("order.id", 9), KeyValue::new("venue", "XNAS")]);
            let many = [
                KeyValue::new("venue", "XNAS"),
                KeyValue::new("order.id", 43),
                KeyValue::new("side", "buy"),
                KeyValue::new("urgent", true),
                KeyValue::new("price", 10.5),
                KeyValue::new("desk", "fx"),
                client.clone(),
            ];
            orders.add(1, &many);
        }
        // Outside the span: counted, no exemplar.
        latency.record(5000, &[KeyValue::new("order.id", 44), KeyValue::new("venue", "XNAS")]);
        drop(span);
        pipeline.force_flush(WAIT).unwrap();
        let (metrics, _) = received(&collector);
        pipeline.shutdown(WAIT);

        let left_out = |n: usize| format!("{FILTERED_LEFT_OUT_KEY}={n}");
        let Data::Histogram(histogram) = metric(&metrics, "tick.to.trade") else { panic!("a histogram") };
        assert_eq!(histogram.data_points.len(), 1, "one series: venue only ({protocol:?})");
        assert_eq!(histogram.data_points[0].count, 3);
        let found: Vec<(f64, Vec<String>)> =
            histogram.data_points[0].exemplars.iter().map(|e| (value(e), filtered(e))).collect();
        assert_eq!(
            found,
            [
                (50.0, vec!["order.id=7".into(), "client=acme".into()]),
                (500.0, vec!["order.id=42".into(), "client=acme".into()])
            ],
            "{protocol:?}"
        );
        let fine = exemplars(metric(&metrics, "tick.to.trade.fine"));
        assert_eq!(fine[0].iter().map(filtered).collect::<Vec<_>>(), [["order.id=9"]], "{protocol:?}");
        let orders = exemplars(metric(&metrics, "orders"));
        assert_eq!(
            orders[0].iter().map(filtered).collect::<Vec<_>>(),
            [["order.id=43", "side=buy", "urgent=true", "price=10.5", &left_out(2)]], // desk and client: a fifth and sixth
            "{protocol:?}"
        );
    }
}

/// An exponential histogram keeps at most min(20, its view's `max_size`) exemplars, as the
/// specification recommends; until session 42 it kept 20 whatever `max_size`.
#[test]
fn an_exponential_histograms_exemplars_are_at_most_its_max_size() {
    use nanotel::metrics::Aggregation;
    let meters = MeterProvider::builder()
        .without_env()
        .with_exemplar_filter(ExemplarFilter::AlwaysOn)
        .with_view(
            View::new("latency.small")
                .with_aggregation(Aggregation::Base2ExponentialHistogram { max_size: 4, max_scale: 20 }),
        )
        .build();
    let meter = meters.meter("desk");
    let (small, fine) = (
        meter.f64_histogram("latency.small").build().unwrap(),
        meter.f64_histogram("latency.fine").with_exponential_buckets().build().unwrap(),
    );
    for value in 1..=30 {
        small.record(f64::from(value), &[]);
        fine.record(f64::from(value), &[]);
    }
    let metrics: Vec<Metric> = meters.collect().into_iter().flat_map(|s| s.metrics).collect();
    assert_eq!(exemplars(metric(&metrics, "latency.small")).concat().len(), 4);
    assert_eq!(exemplars(metric(&metrics, "latency.fine")).concat().len(), 20, "the default max_size keeps 20");
}
