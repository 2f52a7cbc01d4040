//! Pinning a thread to one CPU, for the benchmarks that compare work on one core with the same
//! work split across two: unpinned, the scheduler may run both threads on one core in turn.

/// Pins the calling thread to CPU `cpu`, or lets it run on any CPU again with `None` (Linux, the
/// first 64 CPUs); returns whether the system did so.
#[cfg(target_os = "linux")]
pub fn pin_to(cpu: Option<usize>) -> bool {
    extern "C" {
        fn sched_setaffinity(pid: i32, cpu_set_size: usize, mask: *const u64) -> i32;
    }
    let mask: u64 = match cpu {
        Some(cpu) if cpu < 64 => 1 << cpu,
        Some(_) => return false,
        None => u64::MAX,
    };
    // SAFETY: the C library's `sched_setaffinity` (std links it on Linux), declared with its C
    // signature for 64-bit Linux (`pid_t`, `size_t`, `const cpu_set_t *`); it reads the
    // `cpu_set_size` bytes of the mask it is given, which lives here. pid 0 is the calling thread;
    // CPUs in the mask that do not exist are ignored.
    unsafe { sched_setaffinity(0, std::mem::size_of::<u64>(), &mask) == 0 }
}

#[cfg(not(target_os = "linux"))]
pub fn pin_to(_cpu: Option<usize>) -> bool {
    false
}
