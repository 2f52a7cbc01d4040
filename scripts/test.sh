#!/usr/bin/env bash
# The whole test suite, as CI runs it, on a fresh machine or a warm one:
#   formatting, clippy, every test (unit, integration, doc, the README's examples, wire
#   conformance against the official OpenTelemetry Python classes, fuzz corpus replay, the stress
#   suite), the loom models, the concurrency tests under AddressSanitizer, a compile and one
#   quick run of the benchmarks (the workspace's `nanotel-benches` package, with its cross-check
#   against the official SDK), a compile of the fuzz targets, and a scan of the benchmarks' LLVM
#   IR for code that copies an all-undefined constant (scripts/undef-constants.sh).
# It installs what it needs itself (a Python venv under target/ for the conformance tests).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# The toolchain in use, first: clippy's lints and rustfmt's output change between releases, and
# `-D warnings` turns a newer release's lints red without a change here (written with 1.95.0).
echo "== toolchain: $(rustc -V); $(cargo clippy -V 2>/dev/null || echo 'no clippy'); $(rustfmt -V 2>/dev/null || echo 'no rustfmt')" >&2

echo "== python venv for the OTLP conformance tests" >&2
python="$(scripts/setup-python.sh | tail -n 1)"
export NANOTEL_PYTHON="$python"
# Conformance tests skip themselves without a venv when run by hand; here they must run.
export NANOTEL_REQUIRE_CONFORMANCE=1

echo "== promtool and the Prometheus server for the Prometheus exposition and scrape tests" >&2
if ! command -v promtool >/dev/null 2>&1 || ! command -v prometheus >/dev/null 2>&1; then
    as_root=()
    if [ "$(id -u)" -ne 0 ]; then as_root=(sudo); fi
    install_promtool() {
        "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -o Acquire::Retries=5 -y \
            --no-install-recommends prometheus >&2
    }
    install_promtool || { "${as_root[@]}" apt-get -o Acquire::Retries=5 update >&2 && install_promtool; } || true
fi
# Conformance is required: without them the promtool and scrape tests would fail, minutes later.
if ! command -v promtool >/dev/null 2>&1 || ! command -v prometheus >/dev/null 2>&1; then
    echo "test.sh: promtool and prometheus could not be installed (apt-get install prometheus)" >&2
    exit 1
fi
NANOTEL_PROMTOOL="$(command -v promtool)"
NANOTEL_PROMETHEUS="$(command -v prometheus)"
export NANOTEL_PROMTOOL NANOTEL_PROMETHEUS

echo "== rust-version covers the locked dependencies (scripts/rust-version.sh)" >&2
scripts/rust-version.sh

echo "== cargo fmt --check" >&2
cargo fmt --all -- --check

echo "== cargo clippy" >&2
cargo clippy --workspace --all-features --all-targets -- -D warnings

echo "== cargo test" >&2
cargo test --all-features
# The loopback collector's package (`nanotel-testing`): its unit, end-to-end and doc tests.
cargo test -p nanotel-testing
# The benchmarks' package: its one test checks the sampler against the official SDK.
cargo test -p nanotel-benches
# The README's Rust examples, compiled and run as doctests (tests/readme).
cargo test -p nanotel-readme-examples --doc

echo "== loom models of the lock-free structures (scripts/loom.sh)" >&2
scripts/loom.sh

echo "== AddressSanitizer over the concurrency, churn and stress tests (scripts/asan.sh)" >&2
scripts/asan.sh

echo "== cargo doc (warnings are errors)" >&2
RUSTDOCFLAGS="-D warnings" cargo doc --all-features --no-deps

echo "== benchmarks compile, then run once each (--test: criterion's check mode, and the cold bench's)" >&2
cargo bench -p nanotel-benches --no-run
# Every benchmark runs its code and its report once, seconds in all: a bench that panics, or a
# report that names a row no longer measured, fails here rather than on the next person's machine.
cargo bench -p nanotel-benches -- --test

echo "== fuzz targets compile (fuzz/, a workspace of its own; cargo-fuzz adds the sanitizer when fuzzing)" >&2
# The corpus replay above runs the targets' code inside this crate's tests; this checks the targets
# themselves, whose calls cross a crate boundary: they stopped compiling, unnoticed, when the lint
# policy (issue 18) made the functions they call crate-private.
cargo check --manifest-path fuzz/Cargo.toml --bins --locked

echo "== no hot path copies an all-undefined constant (scripts/undef-constants.sh)" >&2
# Reuses the release build of the benchmarks above (the bench profile is release); re-emits the
# four benches' and the library's LLVM IR, minutes on two cores.
scripts/undef-constants.sh
