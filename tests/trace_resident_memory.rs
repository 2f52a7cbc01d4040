//! A thread's span slab is sized for bursts (16,384 slots of 640 bytes by default, 10 MiB), but
//! costs resident memory only for the slots the thread has used: the slab is allocated zeroed (the
//! kernel maps its pages when first written), and a thread whose spans the exporter keeps up with
//! starts over at its first slots instead of cycling through all of them, even while one of its
//! spans stays open. Linux only: resident
//! memory is read from `/proc/self/status`.

#![cfg(target_os = "linux")]

#[path = "support/huge_pages.rs"]
mod huge_pages;
use huge_pages::without_huge_pages;

use nanotel::trace::{Sampler, TracerProvider, DEFAULT_RING_CAPACITY};

/// This process's resident memory, in KiB.
fn resident_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("Linux has /proc/self/status");
    let line = status.lines().find(|line| line.starts_with("VmRSS:")).expect("a VmRSS line");
    line.split_whitespace().nth(1).and_then(|kib| kib.parse().ok()).expect("VmRSS in kB")
}

#[test]
fn a_threads_span_slab_is_resident_only_for_the_slots_it_uses() {
    without_huge_pages();
    assert_eq!(DEFAULT_RING_CAPACITY, 16384, "the bound below is set for the default slab");
    let provider = TracerProvider::builder().without_env().with_sampler(Sampler::AlwaysOn).build();
    let before = resident_kib();
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let tracer = provider.tracer("steady");
            // A span open the whole time (a session, a connection): the slab is never all free.
            let session = tracer.span("session").start();
            // Far more spans than slots, drained every 256: an exporter that keeps up.
            for i in 0..60_000u32 {
                drop(tracer.span("order").start());
                if i % 256 == 255 {
                    provider.drain(usize::MAX, |_, _| {});
                }
            }
            drop(session);
        });
    });
    let grown = resident_kib().saturating_sub(before);
    // Touching every slot would add about 10 MiB; the slots used, the ring and the drains' own
    // allocations come to a few hundred KiB.
    assert!(grown < 3 * 1024, "resident memory grew by {grown} KiB");
}
