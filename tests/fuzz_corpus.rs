//! Replays the fuzz corpus (`fuzz/corpus/<target>/`) through the same code the fuzz targets run,
//! so every input the fuzzer kept stays a regression test under a plain stable `cargo test`.

use std::fs;
use std::panic::{self, AssertUnwindSafe};
use std::path::Path;

// The targets' functions are `pub`: the fuzz targets call them from other crates (`nanotel-fuzz`'s
// binaries). Here the module is this test's own, and nothing outside it could reach them.
#[expect(unreachable_pub, reason = "public for the fuzz targets' crate, which includes the same file")]
#[path = "../fuzz/src/inputs.rs"]
mod inputs;

/// Runs `target` on every file of its corpus directory, then fails listing every file that
/// panicked (the panic messages are printed above); an empty or missing corpus fails too.
fn replay(target: &str, run: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus").join(target);
    let entries = fs::read_dir(&dir).unwrap_or_else(|error| panic!("{}: {error}", dir.display()));
    let mut files: Vec<_> = entries
        .map(|entry| entry.map(|entry| entry.path()))
        .collect::<Result<_, _>>()
        .unwrap_or_else(|error| panic!("{}: {error}", dir.display()));
    files.retain(|path| path.is_file());
    files.sort();
    assert!(!files.is_empty(), "{} holds no corpus files", dir.display());

    let failed: Vec<_> = files
        .iter()
        .filter(|path| {
            let data = fs::read(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
            panic::catch_unwind(AssertUnwindSafe(|| run(&data))).is_err()
        })
        .map(|path| path.display().to_string())
        .collect();
    assert!(failed.is_empty(), "{target}: {} of {} inputs failed: {failed:#?}", failed.len(), files.len());
}

#[test]
fn response_decoder_corpus() {
    replay("response_decoder", inputs::response_decoder);
}

#[test]
fn headers_env_corpus() {
    replay("headers_env", inputs::headers_env);
}

#[test]
fn endpoint_corpus() {
    replay("endpoint", inputs::endpoint);
}

#[test]
fn retry_after_corpus() {
    replay("retry_after", inputs::retry_after);
}

#[test]
fn traceparent_corpus() {
    replay("traceparent", inputs::traceparent);
}

#[test]
fn tracestate_corpus() {
    replay("tracestate", inputs::tracestate);
}

#[test]
fn baggage_corpus() {
    replay("baggage", inputs::baggage);
}

#[test]
fn propagation_extract_corpus() {
    replay("propagation_extract", inputs::propagation_extract);
}

#[test]
fn grpc_status_corpus() {
    replay("grpc_status", inputs::grpc_status);
}

#[test]
fn environment_corpus() {
    replay("environment", inputs::environment);
}

#[test]
fn scrape_negotiation_corpus() {
    replay("scrape_negotiation", inputs::scrape_negotiation);
}

#[test]
fn b3_corpus() {
    replay("b3", inputs::b3);
}

#[test]
fn resource_attributes_corpus() {
    replay("resource_attributes", inputs::resource_attributes);
}

#[test]
fn cgroup_corpus() {
    replay("cgroup", inputs::cgroup);
}

#[test]
fn mountinfo_corpus() {
    replay("mountinfo", inputs::mountinfo);
}
