//! A tracer provider dropped while its spans are still open: shared by the churn tests (which
//! check that nothing is used after it is freed) and the churn memory test (which counts what is
//! left).

use nanotel::trace::{Sampler, TracerProvider};

/// Starts three spans (two here, one on another thread), drops the tracer and provider, then ends
/// two of the spans on a new thread (which exits) and the third here.
pub(crate) fn end_spans_after_their_provider_drops() {
    let provider = TracerProvider::builder().without_env().with_sampler(Sampler::AlwaysOn).build();
    let tracer = provider.tracer("dropped under its spans");
    let here = tracer.span("ends here").start();
    let elsewhere = tracer.span("ends elsewhere").start();
    let started_elsewhere = std::thread::spawn({
        let tracer = tracer.clone();
        move || tracer.span("started elsewhere").start()
    })
    .join()
    .unwrap();
    drop((tracer, provider));
    std::thread::spawn(move || {
        elsewhere.end();
        started_elsewhere.end();
    })
    .join()
    .unwrap();
    here.end();
}
