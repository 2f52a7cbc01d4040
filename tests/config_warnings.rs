//! Configuration warnings as a person sees them: `nanotel::init()` in a process of its own (this
//! test binary, run again as a child), its stderr read line by line. Each problem is one line:
//! nothing repeated per signal, nothing silent.

use std::ffi::OsString;
use std::process::Command;
use std::time::Duration;

/// Set in the child's environment: the child runs `init` instead of the checks.
const CHILD: &str = "CONFIG_WARNINGS_CHILD";

/// The child's work: set up telemetry from the process environment and shut it down. In the
/// parent test process this does nothing; the tests below run it in a child.
#[test]
fn child_process_entry() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let telemetry = nanotel::init().expect("problems in the environment never fail init");
    telemetry.shutdown(Duration::from_secs(5));
}

/// Runs [`child_process_entry`] with only `vars` of the `OTEL_*` and `NANOTEL_*` kind (all three
/// exporters off, so nothing is sent anywhere) and returns its stderr lines.
fn init_stderr(vars: &[(&str, OsString)]) -> Vec<String> {
    let exe = std::env::current_exe().expect("the test's own path");
    let mut command = Command::new(exe);
    command.args(["--exact", "child_process_entry", "--nocapture", "--test-threads=1"]);
    for (name, _) in std::env::vars_os() {
        let name_text = name.to_string_lossy();
        if name_text.starts_with("OTEL_") || name_text.starts_with("NANOTEL_") {
            command.env_remove(name);
        }
    }
    command.env(CHILD, "1");
    for signal in ["TRACES", "METRICS", "LOGS"] {
        command.env(format!("OTEL_{signal}_EXPORTER"), "none");
    }
    for (name, value) in vars {
        command.env(name, value);
    }
    let output = command.output().expect("the child runs");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "child failed ({}):\n{stderr}", output.status);
    stderr.lines().map(str::to_owned).collect()
}

/// Asserts that each of `needles` is in exactly one line, and that there are no other lines.
fn one_line_each(lines: &[String], needles: &[&str]) {
    for needle in needles {
        let count = lines.iter().filter(|line| line.contains(needle)).count();
        assert_eq!(count, 1, "{needle} in {count} lines:\n{}", lines.join("\n"));
    }
    assert_eq!(lines.len(), needles.len(), "other lines:\n{}", lines.join("\n"));
    for line in lines {
        assert!(line.starts_with("nanotel: warning: "), "{line}");
    }
}

#[test]
fn an_invalid_log_level_is_reported_on_its_own() {
    let lines = init_stderr(&[("OTEL_LOG_LEVEL", "loud".into())]);
    assert_eq!(
        lines,
        ["nanotel: warning: OTEL_LOG_LEVEL=\"loud\" is ignored: expected one of none, error, warn, info, debug; \
          using warn"]
    );
}

#[cfg(unix)]
#[test]
fn values_that_are_not_utf8_are_reported_once_each() {
    use std::os::unix::ffi::OsStringExt;
    let bytes = |value: &[u8]| OsString::from_vec(value.to_vec());
    let lines = init_stderr(&[
        ("OTEL_SERVICE_NAME", bytes(b"desk\xff")),
        ("OTEL_EXPORTER_OTLP_HEADERS", bytes(b"api-key=\xfe")),
        ("OTEL_LOG_LEVEL", bytes(b"\xff")),
    ]);
    one_line_each(
        &lines,
        &[
            "OTEL_SERVICE_NAME is ignored: its value is not valid UTF-8; it is treated as unset",
            "OTEL_EXPORTER_OTLP_HEADERS is ignored: its value is not valid UTF-8; it is treated as unset",
            "OTEL_LOG_LEVEL is ignored: its value is not valid UTF-8; using warn",
        ],
    );
}

/// `OTEL_ATTRIBUTE_COUNT_LIMIT` is read by the tracer and the logger providers alike: one line.
/// (Before: one from each.)
#[test]
fn a_limit_both_providers_read_is_reported_once() {
    let lines = init_stderr(&[("OTEL_ATTRIBUTE_COUNT_LIMIT", "many".into())]);
    one_line_each(&lines, &["OTEL_ATTRIBUTE_COUNT_LIMIT"]);
}

#[test]
fn shared_variables_are_reported_once_not_once_per_signal() {
    let lines = init_stderr(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318".into()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "thrift".into()),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "brotli".into()),
        ("OTEL_EXPORTER_OTLP_HEADERS", "api-key=1,broken,broken".into()),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "-1".into()),
    ]);
    one_line_each(
        &lines,
        &[
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "OTEL_EXPORTER_OTLP_PROTOCOL",
            "OTEL_EXPORTER_OTLP_COMPRESSION",
            "OTEL_EXPORTER_OTLP_HEADERS",
            "OTEL_EXPORTER_OTLP_TIMEOUT",
        ],
    );
}

#[test]
fn unknown_and_unsupported_propagators_are_reported_once_each() {
    let lines = init_stderr(&[("OTEL_PROPAGATORS", "tracecontext,xray,b3,Foo,foo".into())]);
    one_line_each(
        &lines,
        &[
            "OTEL_PROPAGATORS: propagator \"xray\" is not provided by nanotel; it is skipped",
            "OTEL_PROPAGATORS: \"foo\" is not a propagator",
        ],
    );
}

/// An unknown exemplar filter is one line naming the values that exist and the default used; a
/// known one, in any case, is no line at all.
#[test]
fn an_unknown_exemplar_filter_is_reported_once_and_the_default_used() {
    let lines = init_stderr(&[("OTEL_METRICS_EXEMPLAR_FILTER", "sometimes".into())]);
    assert_eq!(
        lines,
        ["nanotel: warning: OTEL_METRICS_EXEMPLAR_FILTER=\"sometimes\" is ignored: expected one of trace_based, \
          always_on, always_off; using trace_based"]
    );
    assert!(init_stderr(&[("OTEL_METRICS_EXEMPLAR_FILTER", "ALWAYS_OFF".into())]).is_empty());
}
