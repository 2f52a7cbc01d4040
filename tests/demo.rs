//! The demo, run as a newcomer runs it: the example binary `cargo test` builds, against the
//! embedded collector and against a collector of the test's own, checking its output contract.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use nanotel::Signal;
use nanotel_testing::{Reply, TestCollector};
use serde_json::Value;

/// `target/<profile>/examples/trading_client`, beside this test's `target/<profile>/deps/`.
fn demo() -> Command {
    let exe = std::env::current_exe().expect("the test's own path");
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).expect("target/<profile>/deps/<test>");
    let path: PathBuf = profile_dir.join("examples").join(format!("trading_client{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "{} is missing: `cargo test` builds the examples (a run filtered with `--test demo` does not; \
         run `cargo build --all-features --example trading_client` first)",
        path.display()
    );
    let mut command = Command::new(path);
    // Hermetic: none of the caller's OTEL_* settings reach the demo.
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("OTEL_") || name.to_string_lossy().starts_with("NANOTEL_") {
            command.env_remove(name);
        }
    }
    command
}

/// Demo runs go one at a time: the order thread busy-polls, and two at once on a small machine
/// would starve each other's exporter threads.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Runs the demo to its end.
fn run(command: &mut Command) -> (Output, Vec<String>) {
    let serial = ONE_AT_A_TIME.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let output = command.output().expect("the demo runs");
    drop(serial);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "demo failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    (output, stdout.lines().map(str::to_owned).collect())
}

/// The last line's accounting JSON, checked for the documented shape.
fn summary(lines: &[String]) -> Value {
    let last = lines.last().expect("output");
    let json = last.strip_prefix("nanotel-summary ").unwrap_or_else(|| panic!("last line: {last}"));
    let summary: Value = serde_json::from_str(json).expect("one JSON object");
    for signal in Signal::ALL {
        let s = &summary[signal.name()];
        for key in ["enqueued", "exported", "queued"] {
            assert!(s[key].is_u64(), "{}.{key} in {json}", signal.name());
        }
        assert!(s["dropped"].is_object(), "{}.dropped in {json}", signal.name());
    }
    assert!(summary["breaker"]["state"].is_string(), "{json}");
    summary
}

fn number(summary: &Value, signal: Signal, key: &str) -> u64 {
    summary[signal.name()][key].as_u64().unwrap_or(u64::MAX)
}

fn dropped(summary: &Value, signal: Signal) -> u64 {
    summary[signal.name()]["dropped"]
        .as_object()
        .map_or(u64::MAX, |reasons| reasons.values().map(|n| n.as_u64().unwrap_or(u64::MAX)).sum())
}

#[test]
fn the_embedded_collector_run_exports_everything_and_says_so() {
    let (_, lines) = run(demo().args(["--duration", "2", "--orders-per-sec", "500", "--seed", "7"]));
    let summary = summary(&lines);
    for signal in Signal::ALL {
        assert!(number(&summary, signal, "exported") > 0, "{signal:?}: {summary}");
        assert_eq!(number(&summary, signal, "exported"), number(&summary, signal, "enqueued"), "{summary}");
        assert_eq!(dropped(&summary, signal), 0, "{signal:?}: {summary}");
        assert_eq!(number(&summary, signal, "queued"), 0, "{summary}");
    }
    // Three spans per order: the order, its risk check (through `tracing`) and its venue round trip.
    let sent: u64 = lines
        .iter()
        .find_map(|l| l.strip_prefix("sent ")?.split(' ').next()?.parse().ok())
        .expect("a `sent N orders` line");
    assert_eq!(number(&summary, Signal::Traces, "exported"), 3 * sent);
    // Two log records per order: the risk check's `tracing` event, and its fill or its rejection.
    assert_eq!(number(&summary, Signal::Logs, "exported"), 2 * sent);
    let received = lines.iter().find(|l| l.starts_with("the embedded collector received: ")).expect("collector line");
    let accepted = format!(
        "traces: {} requests, {} items ({} accepted)",
        number(&summary, Signal::Traces, "requests"),
        3 * sent,
        3 * sent
    );
    assert!(received.contains(&accepted), "{received} / {accepted}");
    let hot: Vec<&String> = lines.iter().filter(|l| l.starts_with("hot path: ")).collect();
    for what in ["counter add", "static counter add", "histogram record", "static histogram record", "span"] {
        let line = hot.iter().find(|l| l.starts_with(&format!("hot path: {what} p50 "))).expect(what);
        assert!(line.contains(" ns p99 ") && line.contains(" ns ("), "{line}");
        assert!(line.contains("; disabled p50 ") && line.contains(": nanotel adds p50 "), "calibrated: {line}");
    }
    let last_hot = lines.iter().rposition(|l| l.starts_with("hot path: ")).unwrap_or(0);
    assert_eq!(last_hot, lines.len() - 2, "the summary comes right after the hot-path figures");
}

/// `OTEL_EXPORTER_OTLP_PROTOCOL=grpc` against the embedded collector: everything arrives, and
/// only as gRPC.
#[test]
fn the_embedded_collector_run_over_grpc_exports_everything() {
    let (_, lines) = run(demo().env("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc").args(["--duration", "2", "--seed", "7"]));
    let summary = summary(&lines);
    for signal in Signal::ALL {
        assert!(number(&summary, signal, "exported") > 0, "{signal:?}: {summary}");
        assert_eq!(number(&summary, signal, "exported"), number(&summary, signal, "enqueued"), "{summary}");
        assert_eq!(dropped(&summary, signal), 0, "{signal:?}: {summary}");
    }
    let types = lines.iter().find(|l| l.starts_with("the embedded collector received content types: "));
    assert_eq!(
        types.map(String::as_str),
        Some("the embedded collector received content types: application/grpc"),
        "{lines:?}"
    );
}

#[test]
fn against_another_collector_exported_is_what_it_accepted() {
    let collector = TestCollector::start().unwrap();
    // A collector that refuses part of the first trace batch: those spans are not "exported".
    collector.script(Some(Signal::Traces), [Reply::PartialSuccess { rejected: 3, message: "over quota".into() }]);
    let (_, lines) = run(demo().env("OTEL_EXPORTER_OTLP_ENDPOINT", collector.endpoint()).args([
        "--duration",
        "1",
        "--orders-per-sec",
        "300",
    ]));
    assert!(!lines.iter().any(|l| l.contains("embedded collector")), "no embedded collector with an endpoint set");
    let summary = summary(&lines);
    for signal in Signal::ALL {
        assert_eq!(number(&summary, signal, "exported"), collector.accepted_items(signal), "{signal:?}: {summary}");
    }
    assert!(number(&summary, Signal::Traces, "exported") > 0);
    assert_eq!(summary["traces"]["dropped"]["rejected"].as_u64(), Some(3), "{summary}");
    a_risk_check_from_tracing_is_in_its_orders_trace(&collector);
}

/// The `tracing` path beside the direct one: a `risk.check` span made with `tracing` macros is a
/// child of its nanotel `order` span, in its trace, and the check's event a log record carrying
/// the check's ids.
fn a_risk_check_from_tracing_is_in_its_orders_trace(collector: &TestCollector) {
    let received = collector.received();
    let requests: Vec<_> = received.iter().filter_map(|r| r.request.as_ref().ok()).collect();
    let spans: Vec<_> = requests
        .iter()
        .filter_map(|r| r.as_traces())
        .flat_map(|r| &r.resource_spans)
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .collect();
    let logs: Vec<_> = requests
        .iter()
        .filter_map(|r| r.as_logs())
        .flat_map(|r| &r.resource_logs)
        .flat_map(|r| &r.scope_logs)
        .flat_map(|s| &s.log_records)
        .collect();
    let check = spans.iter().find(|s| s.name == "risk.check").expect("a risk.check span");
    let order = spans.iter().find(|s| s.span_id == check.parent_span_id).expect("the risk check's parent");
    assert_eq!((order.name.as_str(), &order.trace_id), ("order", &check.trace_id));
    assert!(logs.iter().any(|log| log.span_id == check.span_id && log.trace_id == check.trace_id));
}

/// Against a collector that is never reachable, a person sees why on stderr at the default level
/// (the failure with its URL and cause, the breakers opening, what was dropped), in a handful of
/// lines, and the demo ends within a couple of seconds of its duration. (Before: nothing on
/// stderr, and shutdown sat out its deadline.)
#[test]
fn against_an_unreachable_collector_the_failure_is_printed_and_the_demo_ends_on_time() {
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let endpoint = format!("http://127.0.0.1:{closed_port}");
    let started = std::time::Instant::now();
    let (output, lines) =
        run(demo().env("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint).args(["--duration", "2", "--orders-per-sec", "500"]));
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "the demo took {took:?} for a 2 s run");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.starts_with("nanotel: warning: ")).collect();
    let has = |needle: &str| warnings.iter().any(|l| l.contains(needle));
    assert!(has(&format!("traces export to {endpoint}/v1/traces failed")) && has("Connection refused"), "{stderr}");
    assert!(has("traces: the collector failed 5 attempts in a row; circuit breaker open"), "{stderr}");
    assert!(has("spans dropped (shutdown:"), "{stderr}");
    assert!(warnings.len() <= 12, "a handful of lines, not one per batch: {stderr}");
    let summary = summary(&lines);
    assert_eq!(number(&summary, Signal::Traces, "exported"), 0);
    assert!(dropped(&summary, Signal::Traces) > 0);
}

#[test]
fn a_disabled_sdk_runs_and_reports_nothing() {
    let (_, lines) = run(demo().env("OTEL_SDK_DISABLED", "true").args(["--duration", "1", "--orders-per-sec", "200"]));
    assert!(lines.iter().any(|l| l.starts_with("OTEL_SDK_DISABLED=true")), "{lines:?}");
    let summary = summary(&lines);
    for signal in Signal::ALL {
        assert_eq!(number(&summary, signal, "enqueued"), 0, "{summary}");
    }
}

/// The sustained-rate example's flags are read as the demo's: an argument that is not UTF-8 is a
/// usage error (until session 42 it panicked, exit 101).
#[test]
fn the_sustained_rate_example_refuses_an_argument_it_cannot_read() {
    let path = demo().get_program().to_owned();
    let path = std::path::Path::new(&path).with_file_name(format!("sustained_rate{}", std::env::consts::EXE_SUFFIX));
    let output = Command::new(path)
        .arg(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(b"1x\xff"))
        .output()
        .expect("the example runs");
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("is not UTF-8"), "{output:?}");
}

#[test]
fn a_bad_flag_is_a_usage_error() {
    let output = demo().args(["--duration", "soon"]).output().expect("the demo runs");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--duration: \"soon\" is not a whole number"));
    // An argument that is not UTF-8 is an error too, not a panic (until session 41, exit 101).
    let output = demo()
        .arg(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(b"--seed\xff"))
        .output()
        .expect("the demo runs");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("is not UTF-8"), "{output:?}");
    let output = demo().arg("--help").output().expect("the demo runs");
    assert_eq!(output.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&output.stdout).starts_with("usage: trading_client"), "{output:?}");
}

/// With a signal written to the console output, the demo does not hold its exports against what
/// the embedded collector accepted (they were never sent there), and succeeds.
#[test]
fn a_signal_written_to_the_console_is_not_held_against_the_collector() {
    let output = demo()
        .env("OTEL_LOGS_EXPORTER", "console")
        .args(["--duration", "1", "--orders-per-sec", "50"])
        .output()
        .expect("the demo runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
}

/// The demo exporting over OTLP and serving Prometheus on a free port, 200 orders a second for
/// `duration` seconds; its endpoint's URL, read from its output, and the lines after it.
fn demo_serving_prometheus(duration: &str, stderr: Stdio) -> (Child, impl Iterator<Item = String>, String) {
    let mut child = demo()
        .env("OTEL_METRICS_EXPORTER", "otlp,prometheus")
        .env("OTEL_EXPORTER_PROMETHEUS_HOST", "127.0.0.1")
        .env("OTEL_EXPORTER_PROMETHEUS_PORT", "0")
        .args(["--duration", duration, "--orders-per-sec", "200"])
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("the demo starts");
    let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines().map_while(Result::ok);
    let url = lines
        .by_ref()
        .find_map(|line| Some(line.strip_prefix("Prometheus metrics at ")?.to_owned()))
        .expect("the demo names its Prometheus endpoint");
    (child, lines, url)
}

#[test]
fn otlp_and_prometheus_serves_the_demos_own_metrics() {
    let serial = ONE_AT_A_TIME.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let (mut child, lines, url) = demo_serving_prometheus("2", Stdio::inherit());
    // Orders are counted within the first tick periods; the endpoint shows the live values.
    // Scraped again until every family is there, for as long as the 2 s run lasts (a loaded
    // machine may take longer than a tick period to count the first).
    let families = ["trading_orders_total{", "trading_tick_to_trade_nanoseconds_bucket{", "trading_book_depth{"];
    let started = std::time::Instant::now();
    let mut body = String::new();
    while !families.iter().all(|family| body.contains(family)) && started.elapsed() < Duration::from_millis(1800) {
        std::thread::sleep(Duration::from_millis(100));
        body = reqwest::blocking::get(&url).and_then(reqwest::blocking::Response::text).unwrap_or_default();
    }
    let rest: Vec<String> = lines.collect();
    assert!(child.wait().expect("the demo ends").success());
    drop(serial);
    for family in families {
        assert!(body.contains(family), "{family} missing from:\n{body}");
    }
    let summary = summary(&rest);
    assert!(number(&summary, Signal::Metrics, "exported") > 0, "OTLP metrics still go out: {summary}");
}

/// `--duration` past what a deadline can hold (`u64::MAX` seconds, meant as "run until stopped")
/// runs, a century at most: it used to panic as the run began (a deadline past the clock's range).
#[test]
fn a_duration_past_the_clocks_range_runs_until_stopped() {
    let serial = ONE_AT_A_TIME.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let (mut child, _lines, url) = demo_serving_prometheus(&u64::MAX.to_string(), Stdio::piped());
    // Orders counted twice, a second apart: the run is under way past where its deadline is set.
    let orders = || -> Option<u64> {
        let body = reqwest::blocking::get(&url).and_then(reqwest::blocking::Response::text).ok()?;
        let counts = body.lines().filter(|line| line.starts_with("trading_orders_total{"));
        Some(counts.filter_map(|line| line.rsplit(' ').next()?.parse::<u64>().ok()).sum())
    };
    // Counted once, then again until the count has grown (up to 10 s: a loaded machine may be
    // slow to count).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut first = None;
    while first.is_none_or(|count| count == 0) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        first = orders();
    }
    let mut second = first;
    while second <= first && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        second = orders();
    }
    let running = child.try_wait().expect("the demo's status").is_none();
    let _ = child.kill();
    let stderr = child.wait_with_output().map(|output| String::from_utf8_lossy(&output.stderr).into_owned());
    drop(serial);
    assert!(running, "the demo ended: {stderr:?}");
    assert!(first.zip(second).is_some_and(|(first, second)| second > first), "{first:?} then {second:?}: {stderr:?}");
}
