//! A thread's span slab and its ring, and its log ring, are the largest allocations telemetry
//! makes (10.3 MiB and 536 KiB at the defaults), so they are the ones refused first under an
//! address-space limit (`ulimit -v`, set here with `setrlimit`) or strict overcommit
//! (`vm.overcommit_memory=2`, which this test cannot set). A refused one used to abort the
//! process (`handle_alloc_error`). Now the program goes on: the thread's spans and log records are
//! dropped and counted as `out_of_memory`, the thread tries again now and then, and once memory is
//! back it records as before.
//!
//! One test in this binary: the limit is the whole process's.
#![cfg(target_os = "linux")]

use std::ffi::c_int;
use std::sync::mpsc;
use std::time::Duration;

use nanotel::export::Pipeline;
use nanotel::logs::{LoggerProvider, Severity};
use nanotel::trace::{Sampler, TracerProvider};
use nanotel_testing::TestCollector;

/// `struct rlimit` on Linux.
#[repr(C)]
struct ResourceLimit {
    current: u64,
    max: u64,
}

/// `RLIMIT_AS`: the process's virtual memory, what `ulimit -v` sets.
const ADDRESS_SPACE: c_int = 9;

extern "C" {
    fn getrlimit(resource: c_int, limit: *mut ResourceLimit) -> c_int;
    fn setrlimit(resource: c_int, limit: *const ResourceLimit) -> c_int;
}

/// Room left for the small allocations the test and the exporter thread make while the limit
/// holds.
const HEADROOM: u64 = 4 << 20;

/// The largest capacity, so that the thread's span slab (640 MiB) and log ring (536 MiB) are far
/// larger than the address space the allocator keeps reserved (a glibc thread arena's 64 MiB,
/// counted in the limit already, which the limit does not stop a block being carved out of,
/// where strict overcommit would) or gives back meanwhile (an arena's heap of 64 MiB, which would
/// then leave room under the limit). Never written, they cost no memory once allocated.
const CAPACITY: usize = 1 << 20;

/// Spans and log records the thread makes while the limit holds, then after it is lifted.
const LIMITED: u64 = 1000;
const AFTER: u64 = 300;

#[test]
fn a_thread_whose_buffers_cannot_be_allocated_counts_its_items_and_records_once_memory_is_back() {
    let collector = TestCollector::start().unwrap();
    let pipeline = Pipeline::builder()
        .without_env()
        .with_endpoint(collector.endpoint())
        .with_poll_interval(Duration::from_millis(1))
        .build()
        .unwrap();
    let tracers =
        TracerProvider::builder().without_env().with_sampler(Sampler::AlwaysOn).with_ring_capacity(CAPACITY).build();
    let loggers = LoggerProvider::builder().without_env().with_buffer_capacity(CAPACITY).build();
    tracers.attach(&pipeline);
    loggers.attach(&pipeline);
    let (tracer, logger) = (tracers.tracer("gateway"), loggers.logger("gateway"));
    // The exporter's connection and batches made before the limit, with one span and record.
    tracer.span("before").start().end();
    logger.emit(Severity::Info, "before", &[]);
    pipeline.force_flush(Duration::from_secs(10)).unwrap();

    let (go, wait) = mpsc::channel::<()>();
    let (done, finished) = mpsc::channel::<()>();
    let (started, running) = mpsc::channel::<()>();
    std::thread::scope(|s| {
        // Made before the limit: its stack, what the standard library maps as it starts (its
        // signal stack), and its allocator arena (its first allocation); the limit waits for it,
        // or it could land while the thread is still starting, which then aborts.
        s.spawn(move || {
            let round = |count| {
                for _ in 0..count {
                    tracer.span("order").start().end();
                    logger.emit(Severity::Info, "order", &[]);
                }
            };
            drop(std::hint::black_box(vec![0_u8; 64]));
            started.send(()).unwrap();
            wait.recv().unwrap();
            round(LIMITED);
            done.send(()).unwrap();
            wait.recv().unwrap();
            round(AFTER);
        });
        running.recv().unwrap();
        let lifted = limit_address_space(HEADROOM);
        go.send(()).unwrap();
        finished.recv().unwrap();
        set_limit(&lifted);
        go.send(()).unwrap();
    });

    let accounting = pipeline.shutdown(Duration::from_secs(10)).accounting;
    for (name, counters) in [("spans", &accounting.traces), ("log records", &accounting.logs)] {
        let out_of_memory = counters.dropped["out_of_memory"];
        assert!(
            (LIMITED..LIMITED + 256).contains(&out_of_memory),
            "{name}: each one made under the limit is counted, and the thread tries again within 256: {counters:?}"
        );
        assert_eq!(counters.exported, 1 + LIMITED + AFTER - out_of_memory, "{name}: the rest arrive: {counters:?}");
        assert_eq!(counters.enqueued, counters.exported + counters.dropped.values().sum::<u64>(), "{counters:?}");
    }
}

/// Limits the process's address space to what it maps now plus `headroom`; returns the limit it
/// had.
fn limit_address_space(headroom: u64) -> ResourceLimit {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let mapped_kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmSize:"))
        .and_then(|size| size.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("/proc/self/status has VmSize");
    let mut before = ResourceLimit { current: 0, max: 0 };
    // SAFETY: `before` is a valid `struct rlimit` to write.
    assert_eq!(unsafe { getrlimit(ADDRESS_SPACE, &raw mut before) }, 0, "getrlimit");
    set_limit(&ResourceLimit { current: mapped_kib * 1024 + headroom, max: before.max });
    before
}

fn set_limit(limit: &ResourceLimit) {
    // SAFETY: `limit` is a valid `struct rlimit`; the soft limit never exceeds the hard one, kept.
    assert_eq!(unsafe { setrlimit(ADDRESS_SPACE, limit) }, 0, "setrlimit");
}
