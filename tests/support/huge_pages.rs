//! For tests whose figures are for 4 KiB pages (page faults, resident memory).

/// Turns transparent huge pages off for this process: a host whose huge pages are `always` backs
/// large buffers 2 MiB at a time (README, memory).
pub(crate) fn without_huge_pages() {
    // SAFETY: `prctl` with `PR_SET_THP_DISABLE` takes integer arguments only, and changes only how
    // the kernel backs this process's later mappings.
    let set = unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
    assert_eq!(set, 0, "PR_SET_THP_DISABLE: {}", std::io::Error::last_os_error());
}
