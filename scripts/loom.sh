#!/usr/bin/env bash
# The loom models of the lock-free structures (tests named `loom_*`, compiled only under
# `--cfg nanotel_loom`, where src/sync.rs swaps std's atomics, Arc and UnsafeCell for loom's).
# A target directory of its own: the cfg changes every crate's build.
# The `tracing` feature brings in the tracing layer's span table model, `prometheus` the
# endpoint's late answers.
# LOOM_MAX_PREEMPTIONS bounds the interleavings explored per model (loom's own setting).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-3}"
RUSTFLAGS="--cfg nanotel_loom" CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}/loom" cargo test --lib --release --features tracing,prometheus -- loom_ "$@"
