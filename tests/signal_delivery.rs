//! A signal sent to the process goes to a thread that does not block it. A program that waits for
//! its signals on a thread of its own (`sigwait`, `signalfd`: the signals blocked on its threads
//! and read where it chooses) and sets that up after nanotel has started must still get them:
//! until session 36 nanotel's threads blocked nothing, so the kernel handed the signal to one of
//! them, where its default action ended the process (for `SIGTERM`, without the program's orderly
//! shutdown).
//!
//! The process's main thread must be the program's, and the test harness runs tests on threads of
//! its own while its main thread waits with nothing blocked, so this binary has its own `main`
//! (`harness = false`): run plainly it starts itself again as the program, with `SIGNAL_CHILD` set.

use std::process::Command;

/// Set in the child's environment: the child is the program.
const CHILD: &str = "SIGNAL_DELIVERY_CHILD";

fn main() {
    if cfg!(not(target_os = "linux")) {
        return;
    }
    if std::env::var_os(CHILD).is_some() {
        program();
        return;
    }
    let output = Command::new(std::env::current_exe().unwrap()).env(CHILD, "1").output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "the program ended by {}:\n{stdout}\n{stderr}", output.status);
    assert!(stdout.contains("received SIGUSR1"), "{stdout}\n{stderr}");
    println!("test a_signal_sent_to_the_process_reaches_the_thread_that_waits_for_it ... ok");
}

/// Starts nanotel's threads (the exporter's, the Prometheus endpoint's), then blocks `SIGUSR1` on
/// the main thread, its only thread of its own, sends the signal to the process, and waits for it.
#[cfg(target_os = "linux")]
fn program() {
    use std::time::Duration;

    let pipeline = nanotel::export::Pipeline::builder()
        .without_env()
        .with_self_telemetry(false)
        .with_endpoint("http://127.0.0.1:1")
        .build()
        .unwrap();
    let endpoint = nanotel::prometheus::PrometheusServer::builder().with_address("127.0.0.1", 0).start().unwrap();
    let mut set = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
    let deadline = libc::timespec { tv_sec: 10, tv_nsec: 0 };
    // SAFETY: `sigemptyset` initialises `set` before the others read it; `deadline` is valid for
    // reads; a null info pointer is allowed; `kill` takes no pointer.
    let received = unsafe {
        libc::sigemptyset(set.as_mut_ptr());
        libc::sigaddset(set.as_mut_ptr(), libc::SIGUSR1);
        assert_eq!(libc::pthread_sigmask(libc::SIG_BLOCK, set.as_ptr(), std::ptr::null_mut()), 0);
        assert_eq!(libc::kill(libc::getpid(), libc::SIGUSR1), 0);
        // A program reads its signals when it comes to it: a thread that does not block this one
        // has the time to take it first.
        std::thread::sleep(Duration::from_millis(300));
        libc::sigtimedwait(set.as_ptr(), std::ptr::null_mut(), &raw const deadline)
    };
    assert_eq!(received, libc::SIGUSR1, "waited: {}", std::io::Error::last_os_error());
    println!("received SIGUSR1");
    drop(endpoint);
    pipeline.shutdown(Duration::from_secs(1));
}

#[cfg(not(target_os = "linux"))]
fn program() {}
