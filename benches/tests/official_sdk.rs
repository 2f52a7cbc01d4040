//! nanotel beside the official Rust SDK where both must agree exactly: the ratio sampler decides
//! as the SDK does (the Go SDK's algorithm) for the same trace id. Here rather than in the crate's
//! own tests because this package has the SDK as a dependency (see Cargo.toml).

#[path = "../../tests/support/trace_ids.rs"]
mod trace_ids;

use nanotel::trace::Sampler;
use opentelemetry_sdk::trace::ShouldSample;
use trace_ids::trace_ids;

#[test]
fn decisions_match_the_official_rust_sdk() {
    use opentelemetry::trace::{SpanKind, TraceId as SdkTraceId};
    use opentelemetry_sdk::trace::SamplingDecision;
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
