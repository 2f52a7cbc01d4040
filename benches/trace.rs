//! Placeholder until the trace benchmarks land.
fn main() {}
