//! Where nanotel's own threads run: `NANOTEL_THREAD_CPUS`, or `with_thread_cpus` in code.
//!
//! A new thread may run on the CPUs its creator may. A trading program pins its hot threads to
//! cores of their own (often isolated from the scheduler), and one that starts nanotel from such
//! a thread, its main thread pinned before `init` say, would have the exporter thread, the
//! exporter's name-lookup threads and the Prometheus endpoint's thread share that core with it,
//! taking it away for every drain, gzip and request. Given a CPU list, the exporter thread and the
//! Prometheus endpoint's thread move themselves to those CPUs as they start (one
//! `sched_setaffinity`, before any telemetry is recorded, never on the hot path); the threads
//! they start afterwards inherit it. Unset, they run where their creator could, as before.
//!
//! A list is written as Linux writes CPU lists (`/sys/devices/system/cpu/online`, `taskset -c`):
//! numbers and ranges, separated by commas (`0-3,8`).
//!
//! A new thread also inherits its creator's scheduling policy. A program's hot threads often run
//! under a real-time one (`SCHED_FIFO`, `SCHED_RR`, set with `chrt` or `sched_setscheduler`), and
//! nanotel's threads started from one would run under it too: the exporter's bursts of encoding and
//! gzip would then preempt whatever ordinary work shares their CPUs (the kernel's network
//! processing on the housekeeping cores, say), or, on the core of a hot thread of the same priority
//! that busy-polls, never run at all. So each of them leaves a real-time policy as it starts
//! ([`leave_real_time_policy`]); the threads they start inherit the ordinary one.

use std::fmt::Write as _;

/// The highest CPU number a list may name, plus one: the size of the kernel interface's set
/// (`cpu_set_t`, `CPU_SETSIZE`).
pub(crate) const MAX_CPUS: usize = 1024;

/// The CPUs of a list such as `0-3,8`, sorted, each once; or why it is not one.
///
/// Each CPU is marked once in a set of [`MAX_CPUS`], however often the list names it: until
/// session 42 every range was listed out before duplicates were removed, so `0-1023` written ten
/// thousand times (70 KB of text) made a list of ten million numbers, kept for the process's life.
pub(crate) fn parse(text: &str) -> Result<Vec<usize>, String> {
    let mut named = [false; MAX_CPUS];
    for part in text.split(',').map(str::trim) {
        let (first, last) = match part.split_once('-') {
            Some((first, last)) => (number(first)?, number(last)?),
            None => (number(part)?, number(part)?),
        };
        if first > last {
            return Err(format!("the range {part:?} runs backwards"));
        }
        named[first..=last].fill(true);
    }
    checked(named.iter().enumerate().filter_map(|(cpu, named)| named.then_some(cpu)).collect())
}

/// `cpus` sorted, each once; or why they are not a list to run on (none, or a number past
/// [`MAX_CPUS`]).
pub(crate) fn checked(mut cpus: Vec<usize>) -> Result<Vec<usize>, String> {
    cpus.sort_unstable();
    cpus.dedup();
    match cpus.last() {
        None => Err("no CPU is named".into()),
        Some(&last) if last >= MAX_CPUS => Err(format!("CPU {last} is past the highest possible, {}", MAX_CPUS - 1)),
        Some(_) => Ok(cpus),
    }
}

fn number(text: &str) -> Result<usize, String> {
    let text = text.trim();
    // Digits only: `usize::from_str` would also take a leading `+`.
    if text.is_empty() || !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(format!("{text:?} is not a CPU number"));
    }
    text.parse()
        .ok()
        .filter(|cpu| *cpu < MAX_CPUS)
        .ok_or_else(|| format!("CPU {text} is past the highest possible, {}", MAX_CPUS - 1))
}

/// `cpus` (sorted, each once) written as a list, ranges joined: `[0, 1, 2, 3, 8]` is `0-3,8`.
pub(crate) fn describe(cpus: &[usize]) -> String {
    let mut text = String::new();
    let mut index = 0;
    while index < cpus.len() {
        let first = cpus[index];
        while index + 1 < cpus.len() && cpus[index + 1] == cpus[index] + 1 {
            index += 1;
        }
        let separator = if text.is_empty() { "" } else { "," };
        let _ = match cpus[index] {
            last if last == first => write!(text, "{separator}{first}"),
            last => write!(text, "{separator}{first}-{last}"),
        };
        index += 1;
    }
    text
}

/// Moves the calling thread to `cpus` (and so every thread it starts from then on), or says on
/// stderr why it could not (none of them is one this process may run on, say): it then stays
/// where it started.
pub(crate) fn place_current_thread(cpus: &[usize]) {
    if let Err(why) = set_affinity(cpus) {
        crate::diag::warning!(
            "nanotel's {:?} thread cannot run on CPUs {} (NANOTEL_THREAD_CPUS or with_thread_cpus): {why}; it runs \
             where it started",
            std::thread::current().name().unwrap_or("unnamed"),
            describe(cpus)
        );
    }
}

/// Moves the calling thread from a real-time scheduling policy it inherited (`SCHED_FIFO`,
/// `SCHED_RR`) to the ordinary one (`SCHED_OTHER`), which a thread may always do; says so at the
/// `info` level. Any other policy is left as it is.
pub(crate) fn leave_real_time_policy() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: no pointer; 0 is the calling thread.
        let policy = unsafe { libc::sched_getscheduler(0) } & !libc::SCHED_RESET_ON_FORK;
        let name = match policy {
            libc::SCHED_FIFO => "SCHED_FIFO",
            libc::SCHED_RR => "SCHED_RR",
            _ => return,
        };
        let thread = std::thread::current();
        let thread = thread.name().unwrap_or("unnamed");
        let ordinary = libc::sched_param { sched_priority: 0 };
        // SAFETY: `ordinary` is valid for reads for the call; 0 is the calling thread.
        if unsafe { libc::sched_setscheduler(0, libc::SCHED_OTHER, &raw const ordinary) } == 0 {
            crate::diag::info!(
                "nanotel's {thread:?} thread inherited the real-time policy {name} of the thread that started it; \
                 it runs under the ordinary policy (SCHED_OTHER)"
            );
        } else {
            let why = std::io::Error::last_os_error();
            crate::diag::warning!("nanotel's {thread:?} thread cannot leave the real-time policy {name}: {why}");
        }
    }
}

#[cfg(target_os = "linux")]
const _: () = assert!(std::mem::size_of::<libc::cpu_set_t>() * 8 == MAX_CPUS, "a CPU set holds MAX_CPUS bits");

#[cfg(target_os = "linux")]
fn set_affinity(cpus: &[usize]) -> Result<(), String> {
    // SAFETY: `cpu_set_t` is a plain bit array, for which all zeroes is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &cpu in cpus.iter().filter(|cpu| **cpu < MAX_CPUS) {
        // SAFETY: `cpu` is below `MAX_CPUS`, the set's size in bits (asserted below), so the bit
        // `CPU_SET` writes is inside `set`.
        unsafe { libc::CPU_SET(cpu, &mut set) };
    }
    // SAFETY: `set` is a valid set of the size passed; thread 0 is the calling thread.
    let result = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &raw const set) };
    if result == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error().to_string())
    }
}

#[cfg(not(target_os = "linux"))]
fn set_affinity(_cpus: &[usize]) -> Result<(), String> {
    Err("placing threads on CPUs is supported on Linux only".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_read_as_linux_writes_them() {
        assert_eq!(parse("0-3,8"), Ok(vec![0, 1, 2, 3, 8]));
        assert_eq!(parse(" 5 , 1-2 ,2"), Ok(vec![1, 2, 5]), "sorted, each once, spaces allowed");
        assert_eq!(parse("1023"), Ok(vec![1023]));
        for (text, why) in [
            ("", "\"\" is not a CPU number"),
            ("1,,2", "\"\" is not a CPU number"),
            ("a", "\"a\" is not a CPU number"),
            ("+1", "\"+1\" is not a CPU number"),
            ("-1", "\"\" is not a CPU number"),
            ("3-1", "the range \"3-1\" runs backwards"),
            ("0-3:2", "\"3:2\" is not a CPU number"),
            ("1024", "CPU 1024 is past the highest possible, 1023"),
            ("99999999999999999999999", "CPU 99999999999999999999999 is past the highest possible, 1023"),
        ] {
            assert_eq!(parse(text), Err(why.to_owned()), "{text:?}");
        }
    }

    /// A list naming the same CPUs again and again takes the memory of the CPUs it names, not of
    /// its text times the range (until session 42, ten million entries here).
    #[test]
    fn a_list_repeating_a_range_keeps_each_cpu_once() {
        let cpus = parse(&vec!["0-1023"; 10_000].join(",")).unwrap();
        assert_eq!(cpus.len(), MAX_CPUS);
        assert!(cpus.capacity() <= MAX_CPUS, "{}", cpus.capacity());
    }

    /// A list none of whose CPUs this process may run on is refused (and the thread stays where
    /// it was: `place_current_thread` says so on stderr).
    #[cfg(target_os = "linux")]
    #[test]
    fn a_list_of_cpus_the_process_may_not_use_is_refused() {
        let refused = std::thread::spawn(|| set_affinity(&[MAX_CPUS - 1])).join().unwrap();
        assert_eq!(refused, Err(std::io::Error::from_raw_os_error(libc::EINVAL).to_string()));
    }

    #[test]
    fn lists_are_written_with_their_ranges_joined() {
        assert_eq!(describe(&[0, 1, 2, 3, 8]), "0-3,8");
        assert_eq!(describe(&[1, 3, 4]), "1,3-4");
        assert_eq!(describe(&[7]), "7");
        assert_eq!(checked(vec![4, 2, 2]), Ok(vec![2, 4]));
        assert_eq!(checked(vec![]), Err("no CPU is named".to_owned()));
        assert_eq!(checked(vec![1, 4096]), Err("CPU 4096 is past the highest possible, 1023".to_owned()));
    }
}
