//! Values no measurement can hold (NaN, infinities, a counter's negative increments) are left out
//! and counted (`nanotel::metrics::ignored_values`), through every instrument and path that leaves
//! one out, and an exporting collection says so on stderr. Until session 38 they were left out
//! silently. The count is the process's, so this binary holds one test, and its stderr is read
//! from a child process.

use nanotel::metrics::{ignored_values, Aggregation, MeterProvider, View};

/// Set in the child's environment: the child records and collects.
const CHILD: &str = "METRICS_IGNORED_VALUES_CHILD";

/// Records `value` through every path that leaves such a value out, collects, and says how many
/// it left out.
fn record_everywhere(provider: &MeterProvider, value: f64) -> u64 {
    let meter = provider.meter("gateway");
    let counter = meter.f64_counter("fills").build().unwrap();
    counter.add(value, &[]);
    counter.bind(&[]).add(value);
    let open = meter.f64_up_down_counter("open").build().unwrap();
    open.add(value, &[]);
    open.bind(&[]).add(value);
    let latency = meter.f64_histogram("latency").build().unwrap();
    latency.record(value, &[]);
    latency.bind(&[]).record(value);
    let fine = meter.f64_histogram("latency.fine").with_exponential_buckets().build().unwrap();
    fine.record(value, &[]);
    fine.bind(&[]).record(value);
    let summed = meter.f64_histogram("summed").build().unwrap();
    summed.record(value, &[]);
    let spread = meter.f64_gauge("spread").build().unwrap();
    spread.record(value, &[]);
    spread.bind(&[]).record(value);
    let observed =
        meter.f64_observable_gauge("depth").with_callback(move |observer| observer.observe(value, &[])).build();
    std::mem::forget(observed.unwrap());
    let _ = provider.collect();
    // The counter's two, the up-down counter's two, each histogram's two, the summed histogram's
    // one, the gauge's two, the observation's one.
    12
}

/// A value left out has no effect at all: it makes no series, so it takes no place under the
/// cardinality limit and exports no empty point. Until session 42 a histogram's or a gauge's NaN
/// made the series of its attributes (a histogram point of count 0 exported at every collection;
/// with a limit of 2 the next real set went to the overflow series).
fn left_out_values_make_no_series() {
    use nanotel::attributes::KeyValue;
    use nanotel::proto::metrics::v1::metric::Data;
    let provider = MeterProvider::builder().without_env().with_cardinality_limit(2).build();
    let meter = provider.meter("gateway");
    let (latency, spread) =
        (meter.f64_histogram("latency").build().unwrap(), meter.f64_gauge("spread").build().unwrap());
    for value in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        latency.record(value, &[KeyValue::new("venue", "bad")]);
        spread.record(value, &[KeyValue::new("venue", "bad")]);
    }
    latency.record(1.0, &[KeyValue::new("venue", "XNAS")]);
    spread.record(1.0, &[KeyValue::new("venue", "XNAS")]);
    let metrics: Vec<_> = provider.collect().into_iter().flat_map(|scope| scope.metrics).collect();
    for metric in &metrics {
        let attributes: Vec<String> = match &metric.data {
            Some(Data::Histogram(h)) => h.data_points.iter().map(|p| format!("{:?}", p.attributes)).collect(),
            Some(Data::Gauge(g)) => g.data_points.iter().map(|p| format!("{:?}", p.attributes)).collect(),
            other => panic!("{other:?}"),
        };
        assert_eq!(attributes.len(), 1, "{}: only XNAS's point, no overflow: {attributes:?}", metric.name);
        assert!(attributes[0].contains("XNAS"), "{}: {attributes:?}", metric.name);
    }
    assert_eq!(metrics.len(), 2);
}

#[test]
fn values_no_measurement_can_hold_are_counted_and_said_on_stderr() {
    if std::env::var_os(CHILD).is_some() {
        for value in [f64::NAN, f64::INFINITY] {
            // A provider each: a second build of the observable gauge would add its callback to
            // the first's (since session 40), and observe twice.
            let provider = MeterProvider::builder()
                .without_env()
                .with_view(View::new("summed").with_aggregation(Aggregation::Sum))
                .build();
            let before = ignored_values();
            let expected = record_everywhere(&provider, value);
            assert_eq!(ignored_values() - before, expected, "{value}");
        }
        let before = ignored_values();
        let negative = MeterProvider::builder().without_env().build();
        let meter = negative.meter("gateway");
        meter.f64_counter("fills").build().unwrap().add(-1.0, &[]);
        meter.f64_counter("fills").build().unwrap().bind(&[]).add(-2.0);
        let summed = MeterProvider::builder()
            .without_env()
            .with_view(View::new("summed").with_aggregation(Aggregation::Sum))
            .build();
        summed.meter("gateway").f64_histogram("summed").build().unwrap().record(-3.0, &[]);
        meter.f64_up_down_counter("open").build().unwrap().add(-1.0, &[]);
        meter.f64_histogram("latency").build().unwrap().record(-1.0, &[]);
        assert_eq!(ignored_values() - before, 3, "a counter's negatives (and a monotonic sum's), not the others'");
        let level = negative.meter("gateway").f64_gauge("level").build().unwrap();
        level.record(1.5, &[]);
        level.record(f64::NAN, &[]);
        level.bind(&[]).record(f64::INFINITY);
        let shown = nanotel::prometheus::render(&negative);
        assert!(shown.contains("level{otel_scope_name=\"gateway\"} 1.5\n"), "the gauge kept its value:\n{shown}");
        println!("ignored {}", ignored_values());
        left_out_values_make_no_series();
        return;
    }
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "values_no_measurement_can_hold_are_counted_and_said_on_stderr", "--nocapture"])
        .env(CHILD, "1")
        .env_remove("OTEL_LOG_LEVEL")
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("ignored 29"), "{stdout}");
    let said: Vec<&str> = stderr.lines().filter(|line| line.contains("metric values were left out")).collect();
    assert_eq!(said.len(), 1, "said once, the next line not due within 10 s:\n{stderr}");
    assert!(
        said[0].starts_with("nanotel: warning: 12 metric values were left out since the last report (12 in all)"),
        "{stderr}"
    );
}
