//! A thread's span slab and ring are allocated lazily backed (README, memory): the span that first
//! writes a page of them takes the page fault. With `with_pages_backed_at_start(true)` they are
//! written whole when the thread starts its first sampled span, and no later span faults for
//! them. Linux only: a thread's page faults are read from `/proc/thread-self/stat`.

#![cfg(target_os = "linux")]

use nanotel::trace::{Sampler, TracerProvider};

/// The calling thread's minor page faults so far.
fn minor_faults() -> u64 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").expect("Linux has /proc/thread-self/stat");
    // The fields after the command name (in parentheses, and it may hold spaces): the state
    // first, the minor faults eighth.
    let after_name = &stat[stat.rfind(')').expect("a command name in parentheses") + 1..];
    after_name.split_whitespace().nth(7).and_then(|field| field.parse().ok()).expect("a count of minor faults")
}

/// The page faults a fresh thread takes, after its first span, while it ends `spans` spans with
/// no drain between them: all of them in flight at once, deeper than the thread ever was.
fn faults_in_a_burst(backed: bool, spans: usize) -> u64 {
    let provider = TracerProvider::builder()
        .without_env()
        .with_sampler(Sampler::AlwaysOn)
        .with_pages_backed_at_start(backed)
        .build();
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let tracer = provider.tracer("burst");
                drop(tracer.span("first").start());
                let before = minor_faults();
                for _ in 0..spans {
                    drop(tracer.span("order").start());
                }
                minor_faults() - before
            })
            .join()
            .expect("the burst thread does not panic")
    })
}

#[test]
fn a_burst_deeper_than_ever_takes_no_page_fault_when_the_pages_were_backed_at_start() {
    // 8,000 spans in flight first write 1,250 pages of slots (640 bytes each) and 47 of ring
    // entries (24 bytes each).
    let lazily = faults_in_a_burst(false, 8_000);
    assert!(lazily >= 1_000, "lazily backed, the burst took only {lazily} page faults");
    let backed = faults_in_a_burst(true, 8_000);
    assert!(backed <= 20, "backed at start, the burst took {backed} page faults");
}
