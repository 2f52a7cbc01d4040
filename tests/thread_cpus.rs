//! `NANOTEL_THREAD_CPUS` and `with_thread_cpus`: nanotel's own threads (the exporter, its
//! name-lookup threads, the Prometheus endpoint's) run on the CPUs named, wherever the thread
//! that started them was pinned; unnamed, they run where it could (the case the setting is for:
//! a program that pins its main thread to a core of its own, then starts nanotel).
//!
//! One test in this binary: it reads every thread of the process by name.
#![cfg(target_os = "linux")]

use std::path::PathBuf;

use nanotel::export::Pipeline;
use nanotel_testing::TestCollector;

#[path = "support/own_threads.rs"]
mod own_threads;

use own_threads::{tasks_named, telemetry_with_every_thread, OWN_THREADS};

#[test]
fn nanotels_threads_run_on_the_cpus_named_not_where_their_starter_was_pinned() {
    let cpus = cpu_list(&status_line("/proc/thread-self/status", "Cpus_allowed_list:"));
    assert!(cpus.len() >= 2, "the test needs two CPUs to tell them apart, this process may use {cpus:?}");
    let (starter, named) = (cpus[0], cpus[1]);
    pin_current_thread(starter);
    let collector = TestCollector::start().unwrap();
    // Through a name, so that the exporter starts a lookup thread.
    let endpoint = collector.endpoint().replace("127.0.0.1", "localhost");

    let unplaced = Pipeline::builder().without_env().with_endpoint(&endpoint).build().unwrap();
    assert_eq!(cpus_of("nanotel-export"), [vec![starter]], "without a list, where the starter was pinned");
    drop(unplaced);

    let _telemetry = telemetry_with_every_thread(&collector.endpoint(), &[("NANOTEL_THREAD_CPUS", named.to_string())]);
    for thread in OWN_THREADS {
        let placed = cpus_of(thread);
        assert!(!placed.is_empty(), "no {thread} thread");
        assert!(placed.iter().all(|cpus| *cpus == [named]), "{thread}: {placed:?}, not [{named}]");
    }
    assert_eq!(
        cpu_list(&status_line("/proc/thread-self/status", "Cpus_allowed_list:")),
        [starter],
        "the starter stays"
    );
}

/// The CPUs each live thread named `name` may run on.
fn cpus_of(name: &str) -> Vec<Vec<usize>> {
    let status = |task: PathBuf| std::fs::read_to_string(task.join("status")).ok();
    tasks_named(name)
        .into_iter()
        .filter_map(status)
        .map(|status| cpu_list(&field(&status, "Cpus_allowed_list:")))
        .collect()
}

fn status_line(path: &str, name: &str) -> String {
    field(&std::fs::read_to_string(path).unwrap(), name)
}

fn field(status: &str, name: &str) -> String {
    status.lines().find_map(|line| line.strip_prefix(name)).expect("the field is there").trim().to_owned()
}

/// A list as the kernel writes it (`0-1,4`).
fn cpu_list(text: &str) -> Vec<usize> {
    let range = |part: &str| match part.split_once('-') {
        Some((first, last)) => first.parse().unwrap()..=last.parse().unwrap(),
        None => part.parse().unwrap()..=part.parse().unwrap(),
    };
    text.split(',').flat_map(range).collect()
}

fn pin_current_thread(cpu: usize) {
    // SAFETY: all zeroes is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `cpu` is one of this machine's, below the set's size (1024).
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: a valid set of the size passed; 0 is the calling thread.
    assert_eq!(unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &raw const set) }, 0);
}
