//! Writing to a descriptor the process shares with the program (stderr for nanotel's lines,
//! stdout for the console exporter) without ever waiting for room: a pipe whose reader stalled (a
//! log shipper, a terminal paused with Ctrl-S) must not hold the exporter thread, and with it
//! every signal's export.

/// What one attempt did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum WriteNow {
    /// This many bytes (at least one) were written.
    Wrote(usize),
    /// No room now: nothing was written.
    Full,
    /// The descriptor is closed, or a pipe nobody reads: nothing will ever read what is written.
    Closed,
}

/// The most written at once: a pipe takes a write of up to `PIPE_BUF` bytes whole, without
/// waiting, once `poll` says it has room.
const CHUNK: usize = 4096;

/// Writes the first bytes of `bytes` (at most [`CHUNK`]) to `fd` if `poll` says it has room now.
#[cfg(target_os = "linux")]
pub(crate) fn write_now(fd: libc::c_int, bytes: &[u8]) -> WriteNow {
    loop {
        let mut target = libc::pollfd { fd, events: libc::POLLOUT, revents: 0 };
        // SAFETY: one valid `pollfd`, owned here; a timeout of 0 returns at once.
        let ready = unsafe { libc::poll(&raw mut target, 1, 0) };
        if ready < 0 {
            return WriteNow::Full;
        }
        if target.revents & (libc::POLLERR | libc::POLLHUP | libc::POLLNVAL) != 0 {
            return WriteNow::Closed;
        }
        if target.revents & libc::POLLOUT == 0 {
            return WriteNow::Full;
        }
        let chunk = &bytes[..bytes.len().min(CHUNK)];
        // SAFETY: `chunk` is valid for reads of its length for the call.
        let written = unsafe { libc::write(fd, chunk.as_ptr().cast(), chunk.len()) };
        match usize::try_from(written) {
            Ok(0) => return WriteNow::Full,
            Ok(written) => return WriteNow::Wrote(written),
            Err(_) => match std::io::Error::last_os_error().kind() {
                std::io::ErrorKind::Interrupted => {}
                // The program made the descriptor non-blocking, and it is full.
                std::io::ErrorKind::WouldBlock => return WriteNow::Full,
                _ => return WriteNow::Closed,
            },
        }
    }
}
