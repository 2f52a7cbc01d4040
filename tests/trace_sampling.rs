//! Sampling: ratios within statistical bounds, decisions deterministic per trace id, and
//! sampled-out spans still propagating. That the decisions are the official Rust SDK's (the Go SDK's
//! algorithm) is checked beside the benchmarks, which have the SDK at hand
//! (`benches/tests/official_sdk.rs`).

use nanotel::trace::{Sampler, TracerProvider};

#[path = "support/trace_ids.rs"]
mod trace_ids;

use trace_ids::trace_ids;

#[test]
fn the_ratio_holds_within_statistical_bounds() {
    const N: usize = 100_000;
    for ratio in [0.01, 0.25, 0.5, 0.9] {
        let sampler = Sampler::TraceIdRatioBased(ratio);
        let sampled = trace_ids(N).filter(|id| sampler.should_sample(None, *id)).count() as f64;
        let expected = ratio * N as f64;
        // Eight standard deviations of a binomial count: a wrong algorithm misses by far more.
        let bound = 8.0 * (N as f64 * ratio * (1.0 - ratio)).sqrt();
        assert!((sampled - expected).abs() < bound, "ratio {ratio}: {sampled} sampled, expected {expected} ± {bound}");
    }
}

#[test]
fn decisions_are_deterministic_and_monotone_in_the_ratio() {
    let low = Sampler::TraceIdRatioBased(0.1);
    let high = Sampler::TraceIdRatioBased(0.3);
    for id in trace_ids(20_000) {
        let decision = low.should_sample(None, id);
        assert_eq!(decision, low.should_sample(None, id));
        assert!(!decision || high.should_sample(None, id), "a higher ratio samples a superset");
    }
    assert!(trace_ids(1000).all(|id| Sampler::TraceIdRatioBased(1.0).should_sample(None, id)));
    assert!(trace_ids(1000).all(|id| !Sampler::TraceIdRatioBased(0.0).should_sample(None, id)));
}

#[test]
fn root_spans_are_sampled_by_their_trace_id_and_the_rest_still_propagate() {
    let sampler = Sampler::TraceIdRatioBased(0.25);
    // A ring smaller than the sampled spans, so that some are dropped.
    let provider = TracerProvider::builder()
        .without_env()
        .with_sampler(Sampler::parent_based(sampler.clone()))
        .with_ring_capacity(1024)
        .build();
    let tracer = provider.tracer("gateway");
    let mut recording = 0;
    for _ in 0..20_000 {
        let span = tracer.span("order").start();
        let context = span.context().clone();
        assert!(context.is_valid(), "a span that is not sampled still has ids");
        let decided = sampler.should_sample(None, context.trace_id());
        // Past the thread's capacity a sampled span is dropped (and counted) instead of recorded,
        // and since session 39 says so: it is not sampled (never sampled without recording).
        assert_eq!(context.is_sampled(), decided && span.is_recording());
        recording += usize::from(decided);
    }
    assert!((4_000..6_000).contains(&recording), "{recording} of 20000 at 0.25");
    let mut kept = 0;
    let dropped = provider.drain(usize::MAX, |_, _| kept += 1);
    assert_eq!(kept, 1024, "the ring's capacity");
    assert_eq!(kept + dropped as usize, recording, "only sampled spans reach the recorder");
}

#[test]
fn the_environment_chooses_the_sampler() {
    let provider = TracerProvider::builder()
        .with_env_lookup(|name| match name {
            "OTEL_TRACES_SAMPLER" => Some("parentbased_traceidratio".into()),
            "OTEL_TRACES_SAMPLER_ARG" => Some("0.125".into()),
            _ => None,
        })
        .build();
    assert_eq!(provider.sampler(), &Sampler::parent_based(Sampler::TraceIdRatioBased(0.125)));
}
