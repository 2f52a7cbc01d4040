//! A thread's span slab and ring, and its log ring, are allocated lazily backed (README, memory):
//! the span or record that first writes a page of them takes the page fault. Built
//! `with_pages_backed_at_start(true)`, a provider has them written whole when a thread records its
//! first span or record, and no later one faults for them. Linux only: a thread's page faults are
//! read from `/proc/thread-self/stat`.

#![cfg(target_os = "linux")]

#[path = "support/huge_pages.rs"]
mod huge_pages;
use huge_pages::without_huge_pages;

use nanotel::logs::{LoggerProvider, Severity};
use nanotel::trace::{Sampler, TracerProvider};

/// The buffers' capacity in the tests: large enough (over 32 MiB of slots or records) that the
/// allocator maps each thread's buffers fresh from the kernel, however much it has freed before
/// (it serves smaller blocks from memory it holds once it has freed blocks of their size), so
/// that lazily backed buffers do fault.
const CAPACITY: usize = 65_536;

/// The calling thread's minor page faults so far.
fn minor_faults() -> u64 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").expect("Linux has /proc/thread-self/stat");
    // The fields after the command name (in parentheses, and it may hold spaces): the state
    // first, the minor faults eighth.
    let after_name = &stat[stat.rfind(')').expect("a command name in parentheses") + 1..];
    after_name.split_whitespace().nth(7).and_then(|field| field.parse().ok()).expect("a count of minor faults")
}

/// The page faults a fresh thread takes while it runs `burst`, after `first`.
fn faults_on_a_fresh_thread(first: impl FnOnce() + Send, burst: impl FnOnce() + Send) -> u64 {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                first();
                let before = minor_faults();
                burst();
                minor_faults() - before
            })
            .join()
            .expect("the burst thread does not panic")
    })
}

/// The page faults a fresh thread takes, after its first span, while it ends `spans` spans with
/// no drain between them: all of them in flight at once, deeper than the thread ever was.
fn faults_in_a_burst_of_spans(backed: bool, spans: usize) -> u64 {
    let provider = TracerProvider::builder()
        .without_env()
        .with_sampler(Sampler::AlwaysOn)
        .with_ring_capacity(CAPACITY)
        .with_pages_backed_at_start(backed)
        .build();
    let tracer = provider.tracer("burst");
    faults_on_a_fresh_thread(
        || drop(tracer.span("first").start()),
        || {
            for _ in 0..spans {
                drop(tracer.span("order").start());
            }
        },
    )
}

/// The same for a burst of `records` log records, after the thread's first.
fn faults_in_a_burst_of_records(backed: bool, records: usize) -> u64 {
    let provider = LoggerProvider::builder()
        .without_env()
        .with_buffer_capacity(CAPACITY)
        .with_pages_backed_at_start(backed)
        .build();
    let logger = provider.logger("burst");
    faults_on_a_fresh_thread(
        || logger.emit(Severity::Info, "first", &[]),
        || {
            for _ in 0..records {
                logger.emit(Severity::Info, "order accepted", &[]);
            }
        },
    )
}

#[test]
fn a_burst_of_spans_takes_no_page_fault_when_the_pages_were_backed_at_start() {
    without_huge_pages();
    // 8,000 spans in flight first write 1,250 pages of slots (640 bytes each) and 47 of ring
    // entries (24 bytes each).
    let lazily = faults_in_a_burst_of_spans(false, 8_000);
    assert!(lazily >= 1_000, "lazily backed, the burst took only {lazily} page faults");
    let backed = faults_in_a_burst_of_spans(true, 8_000);
    assert!(backed <= 20, "backed at start, the burst took {backed} page faults");
}

#[test]
fn a_burst_of_log_records_takes_no_page_fault_when_the_pages_were_backed_at_start() {
    without_huge_pages();
    // 8,000 records of a few hundred bytes first write about a thousand pages of their ring.
    let lazily = faults_in_a_burst_of_records(false, 8_000);
    assert!(lazily >= 500, "lazily backed, the records took only {lazily} page faults");
    let backed = faults_in_a_burst_of_records(true, 8_000);
    assert!(backed <= 20, "backed at start, the records took {backed} page faults");
}
