#!/usr/bin/env bash
# AddressSanitizer over the unsafe and concurrent code: the library's unit tests (ring, slab,
# thread rings, metric cells, the `tracing` layer's span table) and the concurrency, churn and
# stress suites and the `tracing` layer's, with leak detection.
# Stable Rust ships the sanitizer runtimes; RUSTC_BOOTSTRAP lets stable take -Zsanitizer. The
# standard library itself is not instrumented (that needs nightly's -Zbuild-std), so a bad access
# made inside std on our behalf is caught only where it lands in instrumented memory.
# A target directory of its own: the flags change every crate's build.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export RUSTC_BOOTSTRAP=1
export RUSTFLAGS="-Zsanitizer=address"
export RUSTDOCFLAGS="-Zsanitizer=address"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}"
# Leaks made on purpose (see the file): the global handles' installed sets.
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$PWD/scripts/lsan.supp:print_suppressions=0}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}/asan"
tests=(thread_churn thread_churn_memory thread_exit stress after_shutdown trace_spans logs_buffers metrics_concurrency metrics_stress metrics_static metrics_static_histogram tracing_layer)
args=()
for test in "${tests[@]}"; do args+=(--test "$test"); done
cargo test --target x86_64-unknown-linux-gnu --features tracing --lib "${args[@]}" "$@"
