//! The CPU time a thread has run, for the benchmarks that time work on several threads: time a
//! thread spends waiting for a core on a busy machine is then not counted as the work's cost.

/// CPU time this thread has run, in nanoseconds (`CLOCK_THREAD_CPUTIME_ID`), where the OS has it.
#[cfg(target_os = "linux")]
pub fn thread_cpu_ns() -> Option<u64> {
    #[repr(C)]
    struct Timespec {
        seconds: i64,
        nanoseconds: i64,
    }
    extern "C" {
        fn clock_gettime(clock: i32, time: *mut Timespec) -> i32;
    }
    const CLOCK_THREAD_CPUTIME_ID: i32 = 3;
    let mut time = Timespec { seconds: 0, nanoseconds: 0 };
    // SAFETY: `clock_gettime` is the C library's (std links it on Linux), declared with its C
    // signature for 64-bit Linux; it writes only the `Timespec` it is given, which lives here.
    let status = unsafe { clock_gettime(CLOCK_THREAD_CPUTIME_ID, &mut time) };
    (status == 0).then(|| time.seconds as u64 * 1_000_000_000 + time.nanoseconds as u64)
}

#[cfg(not(target_os = "linux"))]
pub fn thread_cpu_ns() -> Option<u64> {
    None
}
