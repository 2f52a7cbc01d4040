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
