//! What the benchmarks that print their own ratios share: reading criterion's estimates of this
//! run back, and a `main` that prints the ratios after criterion's summary.

use std::path::PathBuf;

use criterion::Criterion;

/// Criterion's estimate (ns) of benchmark `id` of `group` in this run: the slope of its linear
/// sampling, the figure it prints as `time:`, or the mean when there is no slope.
pub fn estimate_ns(group: &str, id: &str) -> Option<f64> {
    // Where criterion writes: `CARGO_TARGET_DIR`, else the workspace's target directory (this
    // package sits one level below the workspace root, and cargo runs benchmarks from here).
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"), PathBuf::from);
    let path = target.join("criterion").join(group).join(id.replace('/', "_")).join("new/estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    json["slope"]["point_estimate"].as_f64().or_else(|| json["mean"]["point_estimate"].as_f64())
}

/// Runs `benches` as `criterion_main!` would, then `print_ratios` on the estimates just written.
pub fn run_then_print(benches: fn(&mut Criterion), print_ratios: fn()) {
    let mut criterion = Criterion::default().configure_from_args();
    benches(&mut criterion);
    criterion.final_summary();
    print_ratios();
}
