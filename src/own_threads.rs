//! nanotel's own threads: the exporter, the Prometheus endpoint, the test collector's.
//!
//! What they do goes through libraries instrumented with `tracing` (reqwest, hyper, h2, rustls,
//! tokio). Recorded by the `tracing` layer, it would not be the program's telemetry, and it would
//! feed itself: every export making new records to export, the last of them dropped at shutdown.
//! Each such thread marks itself when it starts, and the layer ignores spans and events there (the
//! `log` bridge, records).
//!
//! The exporter's and the Prometheus endpoint's threads are started with the signals the
//! program's own threads should get, and `SIGPIPE`, blocked ([`spawn`]), and a panic on one of
//! nanotel's threads is shown once for each place it comes from ([`show_each_panic_once`]), and
//! they have a stack of at least 2 MiB whatever `RUST_MIN_STACK` says ([`stack_size`]).

use std::cell::Cell;

thread_local! {
    static OWN: Cell<bool> = const { Cell::new(false) };
}

/// Marks the calling thread as one of nanotel's own, for the rest of its life.
pub fn mark_current() {
    OWN.with(|own| own.set(true));
}

/// Whether the calling thread is one of nanotel's own (false while its locals are torn down).
#[inline(always)]
pub(crate) fn is_current() -> bool {
    OWN.try_with(Cell::get).unwrap_or(false)
}

/// Spawns one of nanotel's threads (`builder`'s, running `body`) with every signal blocked but
/// those a fault raises on it (`SIGSEGV`, `SIGBUS`, `SIGILL`, `SIGFPE`, `SIGTRAP`, `SIGSYS`,
/// `SIGABRT`), from its first instruction: a new thread inherits its creator's mask, so the mask is
/// set on the calling thread for the spawn and put back after it. The threads the new one starts
/// (name lookups) inherit it in turn. Two reasons:
///
/// - A signal sent to the process goes to any thread that does not block it. A program that waits
///   for its signals on a thread of its own (`sigwait`, `signalfd`: it blocks them on its threads
///   and reads them there), set up after nanotel's threads started, had a `SIGTERM` meant for its
///   orderly shutdown delivered to nanotel's thread instead, where the default action ended the
///   process (`tests/signal_delivery.rs`). Blocked there, the signal waits for the program's thread.
/// - A write to a connection the peer has reset raises `SIGPIPE` on the writing thread unless the
///   write says otherwise: the standard library's `send` does (`MSG_NOSIGNAL`), its `writev`, which
///   hyper uses for every HTTP message, cannot. Rust's runtime ignores the signal before `main`,
///   but a program may set it back to its default action (a common idiom) and one whose `main` is
///   not Rust's never ignored it: there, a Prometheus scraper that gave up before its answer, or a
///   collector that closed a connection while a request was written, killed the process
///   (`tests/sigpipe.rs`). Blocked, it stays pending on the writing thread (and goes with it), and
///   the write fails with `EPIPE`.
///
/// The program's own dispositions and its threads' masks are left as they were (a signal sent to
/// the calling thread during the spawn is delivered when its mask is put back); glibc keeps its
/// internal signals (thread cancellation, `setuid` across threads) unblockable.
pub(crate) fn spawn<F, T>(builder: std::thread::Builder, body: F) -> std::io::Result<std::thread::JoinHandle<T>>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    show_each_panic_once();
    let before = block_signals();
    let spawned = builder.stack_size(stack_size()).spawn(body);
    restore_signals(&before);
    spawned
}

/// A current-thread tokio runtime (I/O and timers) for the nanotel thread that will run it, whose
/// blocking threads are nanotel's too: named `name` (as `top -H` shows them), at most `max` of
/// them, with [`stack_size`]'s stack, marked as nanotel's, kept [`BLOCKING_KEEP_ALIVE`] when idle.
/// The thread that runs the runtime makes them, so they inherit its placement, scheduling policy
/// and blocked signals.
pub(crate) fn runtime(name: &str, max: usize) -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .thread_name(name)
        .max_blocking_threads(max)
        .thread_keep_alive(BLOCKING_KEEP_ALIVE)
        .thread_stack_size(stack_size())
        .on_thread_start(mark_current)
        .build()
}

/// How long an idle blocking thread of [`runtime`]'s waits for work before it ends. Tokio's 10 s
/// is shorter than Prometheus's usual scrape interval (15 s to a minute): each scrape made a thread
/// and the next ended it, a stack mapped and unmapped in the program's address space (taking the
/// lock its threads' page faults take) four times a minute. Idle, a thread costs its stack's
/// touched pages.
const BLOCKING_KEEP_ALIVE: std::time::Duration = std::time::Duration::from_secs(300);

/// The stack of nanotel's threads when the environment asks for less: the standard library's
/// default, 2 MiB, which they are tested with.
const STACK_SIZE: usize = 2 * 1024 * 1024;

/// The stack size of nanotel's threads, [`spawn`]'s and the exporter's name lookups': at least
/// [`STACK_SIZE`], more when `RUST_MIN_STACK` asks for more. A thread built without a size gets
/// `RUST_MIN_STACK` itself, which a program sets for its own threads: set low (a program with many
/// threads, 128 KiB say), the exporter thread overflowed its stack in its first request, and a
/// stack overflow aborts the process (`tests/small_stacks.rs`); set high, it may be for code of the
/// program's that runs there (a processor), so that is kept.
pub(crate) fn stack_size() -> usize {
    let asked = std::env::var("RUST_MIN_STACK").ok().and_then(|bytes| bytes.trim().parse::<usize>().ok());
    asked.unwrap_or(0).max(STACK_SIZE)
}

/// Blocks the signals [`spawn`] keeps from nanotel's threads on the calling thread; returns the
/// mask it had.
#[cfg(target_os = "linux")]
fn block_signals() -> libc::sigset_t {
    let mut blocked = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: `sigset_t` is a plain bit array, for which all zeroes is the empty set.
    let mut before: libc::sigset_t = unsafe { std::mem::zeroed() };
    let faults = [libc::SIGSEGV, libc::SIGBUS, libc::SIGILL, libc::SIGFPE, libc::SIGTRAP, libc::SIGSYS, libc::SIGABRT];
    // SAFETY: `sigfillset` initialises `blocked` before `sigdelset` and `pthread_sigmask` read it;
    // `pthread_sigmask` writes the old mask into `before` and changes the calling thread's mask
    // only. With `SIG_BLOCK` and valid signal numbers none of them can fail (only an unknown `how`
    // or signal number is refused), so their results are not checked.
    unsafe {
        libc::sigfillset(blocked.as_mut_ptr());
        for fault in faults {
            libc::sigdelset(blocked.as_mut_ptr(), fault);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, blocked.as_ptr(), &raw mut before);
    }
    before
}

/// Puts back the mask [`block_signals`] returned.
#[cfg(target_os = "linux")]
fn restore_signals(before: &libc::sigset_t) {
    // SAFETY: `before` is a mask `pthread_sigmask` filled; it changes the calling thread's only.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, before, std::ptr::null_mut()) };
}

/// Elsewhere nanotel does not depend on a C library binding (the masks are Linux's).
#[cfg(not(target_os = "linux"))]
fn block_signals() {}

#[cfg(not(target_os = "linux"))]
fn restore_signals(_before: &()) {}

/// The most places in the code whose panics on nanotel's threads are remembered as shown: past
/// them, every panic is shown again (the memory stays bounded).
const PANIC_PLACES: usize = 64;

/// Puts, once per process, a panic hook in front of the one in place (the program's, or the
/// standard library's): a panic on one of nanotel's own threads is handed to it the first time
/// only for each place in the code it comes from, every other panic always.
///
/// The application's code that runs on the exporter thread (a processor, an observable callback,
/// an exporter of its own) is caught when it panics, and said once on stderr ([`crate::diag`]),
/// but the hook runs first, at every panic: a processor that panics on every span printed a
/// message, and with `RUST_BACKTRACE` a backtrace, per span, through the standard library's
/// blocking stderr, thousands a second on the thread every signal's export waits on. A hook the
/// program sets afterwards replaces this one, as any hook it sets does.
fn show_each_panic_once() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        let shown = parking_lot::Mutex::new(Vec::<(String, u32, u32)>::new());
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if is_current() {
                let place = info.location().map(|at| (at.file().to_owned(), at.line(), at.column()));
                let mut shown = shown.lock();
                if let Some(place) = place {
                    if shown.contains(&place) {
                        return;
                    }
                    if shown.len() < PANIC_PLACES {
                        shown.push(place);
                    }
                }
            }
            previous(info);
        }));
    });
}
