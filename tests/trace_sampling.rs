//! Sampling: ratios within statistical bounds, decisions deterministic per trace id and identical
//! to the official Rust SDK's (the Go SDK's algorithm), and sampled-out spans still propagating.

use nanotel::trace::{Sampler, TraceId, TracerProvider};
use opentelemetry_sdk::trace::ShouldSample;

/// A reproducible spread of trace ids (splitmix64), independent of the crate's own generator.
fn trace_ids(count: usize) -> impl Iterator<Item = TraceId> {
    let mut state = 0x1234_5678_9abc_def0u64;
    let mut next = move || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    (0..count).map(move |_| TraceId::from_bytes(((u128::from(next()) << 64) | u128::from(next())).to_be_bytes()))
}

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
fn decisions_match_the_official_rust_sdk() {
    use opentelemetry::trace::{SamplingDecision, SpanKind, TraceId as SdkTraceId};
    for ratio in [0.0, 0.001, 0.25, 0.5, 0.75, 0.999_999, 1.0] {
        let ours = Sampler::TraceIdRatioBased(ratio);
        let theirs = opentelemetry_sdk::trace::Sampler::TraceIdRatioBased(ratio);
        for id in trace_ids(20_000) {
            let result =
                theirs.should_sample(None, SdkTraceId::from_bytes(id.to_bytes()), "x", &SpanKind::Internal, &[], &[]);
            let sdk_sampled = result.decision == SamplingDecision::RecordAndSample;
            assert_eq!(ours.should_sample(None, id), sdk_sampled, "ratio {ratio}, trace id {id}");
        }
    }
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
        assert_eq!(context.is_sampled(), sampler.should_sample(None, context.trace_id()));
        // Past the thread's capacity a sampled span is dropped (and counted) instead of recorded.
        assert!(!span.is_recording() || context.is_sampled());
        recording += usize::from(context.is_sampled());
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
