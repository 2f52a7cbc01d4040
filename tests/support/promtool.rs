//! `promtool check metrics` (Debian package `prometheus`, installed by scripts/test.sh, which names
//! it in `NANOTEL_PROMTOOL`) on an exposition, for the test binaries that check Prometheus text.

use std::io::Write;
use std::process::{Command, Stdio};

/// The promtool to run, or `None` (after saying so) when the check is to be skipped.
fn promtool() -> Option<String> {
    let path = std::env::var("NANOTEL_PROMTOOL").ok().filter(|p| !p.is_empty()).unwrap_or_else(|| "promtool".into());
    let found = Command::new(&path).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok();
    if found {
        return Some(path);
    }
    let required = std::env::var("NANOTEL_REQUIRE_CONFORMANCE").is_ok_and(|v| v == "1");
    assert!(!required, "NANOTEL_REQUIRE_CONFORMANCE=1 but promtool ({path}) cannot be run: apt-get install prometheus");
    let _ = writeln!(std::io::stderr(), "promtool check skipped: promtool not found (apt-get install prometheus)");
    None
}

/// Asserts that `promtool check metrics` accepts `text` without a word of complaint; skipped (after
/// saying so) when there is no promtool, unless `NANOTEL_REQUIRE_CONFORMANCE=1`.
pub(crate) fn assert_promtool_accepts(text: &str) {
    let Some(promtool) = promtool() else { return };
    let mut child = Command::new(&promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {promtool}: {e}"));
    child.stdin.take().expect("piped stdin").write_all(text.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success() && output.stdout.is_empty() && output.stderr.is_empty(),
        "promtool check metrics: {}\nstdout: {}\nstderr: {}\n--- exposition ---\n{text}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
