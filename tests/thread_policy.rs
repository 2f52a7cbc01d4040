//! nanotel's own threads (the exporter, its name-lookup threads, the Prometheus endpoint's) leave
//! a real-time scheduling policy they inherit from the thread that started them: a program that
//! runs its hot threads under `SCHED_FIFO` and starts nanotel from one must not get an exporter
//! that preempts the ordinary work on its CPUs with encoding and gzip, or that never runs beside a
//! hot thread of the same priority that busy-polls.
//!
//! One test in this binary: it reads every thread of the process by name. It needs the right to
//! set `SCHED_FIFO` (root, `CAP_SYS_NICE`, or an `RLIMIT_RTPRIO` of at least 1); where the system
//! refuses it, the test says so on stderr and checks nothing (it runs as root in CI).
#![cfg(target_os = "linux")]

use std::io::Write as _;
use std::path::PathBuf;

use nanotel_testing::TestCollector;

#[path = "support/own_threads.rs"]
mod own_threads;

use own_threads::{tasks_named, telemetry_with_every_thread, OWN_THREADS};

#[test]
fn nanotels_threads_leave_the_real_time_policy_of_the_thread_that_started_them() {
    let collector = TestCollector::start().unwrap();
    let endpoint = collector.endpoint();
    let starter = std::thread::spawn(move || {
        let real_time = libc::sched_param { sched_priority: 1 };
        // SAFETY: `real_time` is valid for reads for the call; 0 is the calling thread.
        if unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &raw const real_time) } != 0 {
            let why = std::io::Error::last_os_error();
            assert_eq!(why.raw_os_error(), Some(libc::EPERM), "{why}");
            // Past the test harness's capture (which hides `eprintln!` of a passing test), so a run
            // without the privilege says that this was not checked.
            let _ = writeln!(std::io::stderr(), "NOT CHECKED: this process may not set SCHED_FIFO ({why})");
            return false;
        }
        let telemetry = telemetry_with_every_thread(&endpoint, &[]);
        for thread in OWN_THREADS {
            let policies = policies_of(thread);
            assert!(!policies.is_empty(), "no {thread} thread");
            assert!(policies.iter().all(|policy| *policy == libc::SCHED_OTHER), "{thread}: {policies:?}");
        }
        // SAFETY: no pointer; 0 is the calling thread.
        assert_eq!(unsafe { libc::sched_getscheduler(0) }, libc::SCHED_FIFO, "the starter keeps its policy");
        drop(telemetry);
        true
    });
    if starter.join().unwrap() {
        assert_eq!(collector.accepted_items(nanotel::Signal::Traces), 1);
    }
}

/// The scheduling policy of each live thread named `name`.
fn policies_of(name: &str) -> Vec<i32> {
    let id = |task: PathBuf| task.file_name()?.to_str()?.parse::<libc::pid_t>().ok();
    // SAFETY: no pointer; a thread id of this process (one that has exited since gives -1).
    let policy = |tid| unsafe { libc::sched_getscheduler(tid) };
    tasks_named(name).into_iter().filter_map(id).map(policy).filter(|policy| *policy >= 0).collect()
}
