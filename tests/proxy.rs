//! OTLP/HTTP through a proxy, over real HTTP on 127.0.0.1: the loopback test collector stands in
//! for the proxy (it answers a request by its path, whatever the host in an absolute-form target),
//! so a request that reaches it for a collector elsewhere went through the proxy. A collector on
//! this machine is reached directly whatever the proxy variables say, and a failure names the
//! proxy it went through.

use std::process::Command;
use std::time::Duration;

use nanotel::export::Pipeline;
use nanotel::trace::{Sampler, TracerProvider};
use nanotel::Signal;
use nanotel_testing::TestCollector;

/// A collector no request can reach but through a proxy (`.invalid` never resolves).
const REMOTE: &str = "http://collector.invalid:4318";

/// Exports one span through a pipeline to `endpoint` that reads only `vars`; the spans exported.
fn export_one_span(endpoint: &str, vars: &[(&'static str, String)]) -> u64 {
    let vars = vars.to_vec();
    let pipeline = Pipeline::builder()
        .with_env_lookup(move |name| vars.iter().find(|(n, _)| *n == name).map(|(_, v)| v.clone()))
        .with_endpoint(endpoint)
        .with_self_telemetry(false)
        .build()
        .unwrap();
    let tracers = TracerProvider::builder().without_env().with_sampler(Sampler::AlwaysOn).build();
    tracers.attach(&pipeline);
    tracers.tracer("gateway").span("order").start().end();
    // A failure is no error here: the accounting says what happened.
    let _ = pipeline.force_flush(Duration::from_secs(5));
    pipeline.shutdown(Duration::from_secs(5)).accounting.traces.exported
}

#[test]
fn a_remote_collector_is_reached_through_the_proxy_with_its_credentials() {
    let proxy = TestCollector::start().unwrap();
    let address = proxy.addr();
    let exported = export_one_span(REMOTE, &[("HTTP_PROXY", format!("http://amy:s%40cret@{address}"))]);
    assert_eq!(exported, 1);
    let received = proxy.received();
    let traces: Vec<_> = received.iter().filter(|request| request.signal == Signal::Traces).collect();
    assert_eq!(traces.len(), 1, "the span reached the proxy");
    assert_eq!(traces[0].header("host"), Some("collector.invalid:4318"), "meant for the remote collector");
    assert_eq!(traces[0].header("proxy-authorization"), Some("Basic YW15OnNAY3JldA=="));
}

/// A plaintext endpoint goes through its proxy though a CA file that cannot be used is also set
/// (a leftover of a shared template): TLS is not used, and the proxy still is. (Until session 41
/// the signal was given a client without its proxy, and went direct.)
#[test]
fn an_unusable_ca_file_does_not_cost_a_plaintext_signal_its_proxy() {
    let proxy = TestCollector::start().unwrap();
    let vars = [
        ("HTTP_PROXY", format!("http://{}", proxy.addr())),
        ("OTEL_EXPORTER_OTLP_CERTIFICATE", "/nonexistent/ca.pem".to_owned()),
    ];
    assert_eq!(export_one_span(REMOTE, &vars), 1);
    assert_eq!(proxy.request_count(Signal::Traces), 1, "the span reached the proxy");
}

#[test]
fn a_collector_on_this_machine_is_reached_directly() {
    let collector = TestCollector::start().unwrap();
    // Nothing listens on port 9: a request sent to this proxy would fail.
    let dead = "http://127.0.0.1:9".to_owned();
    for vars in [[("HTTP_PROXY", dead.clone())], [("ALL_PROXY", dead.clone())]] {
        assert_eq!(export_one_span(&collector.endpoint(), &vars), 1, "{vars:?}");
    }
    assert_eq!(collector.request_count(Signal::Traces), 2);
}

/// Set in the child's environment: the child exports instead of running the checks.
const CHILD: &str = "PROXY_FAILURE_CHILD";

/// The child's work (nothing in the parent): an export through a proxy that is not there.
#[test]
fn child_process_entry() {
    if std::env::var_os(CHILD).is_some() {
        export_one_span(REMOTE, &[("HTTP_PROXY", "http://127.0.0.1:9".to_owned())]);
    }
}

#[test]
fn a_failure_through_a_proxy_names_it() {
    let exe = std::env::current_exe().expect("the test's own path");
    let output = Command::new(exe)
        .args(["--exact", "child_process_entry", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .output()
        .expect("the child runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let failed = stderr.lines().find(|line| line.contains("traces export to")).expect("a failure line");
    assert!(failed.contains(&format!("{REMOTE}/v1/traces through the proxy http://127.0.0.1:9/ failed")), "{failed}");
}
