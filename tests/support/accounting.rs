//! What the pipeline tests check again and again: the accounting identity, and waiting for the
//! exporter thread to get somewhere.

// Each test binary that includes this module uses a different part of it.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use nanotel::export::Snapshot;
use nanotel::Signal;

/// How long a test waits for the exporter thread before it fails.
pub(crate) const WAIT: Duration = Duration::from_secs(10);

/// `enqueued = exported + dropped + queued`, for every signal.
pub(crate) fn assert_identity(snapshot: &Snapshot) {
    for signal in Signal::ALL {
        let s = snapshot.signal(signal);
        assert_eq!(
            s.enqueued,
            s.exported + s.dropped_total() + s.queued,
            "{}: enqueued = exported + dropped + queued does not hold: {}",
            signal.name(),
            snapshot.to_json()
        );
    }
}

/// Waits up to [`WAIT`] for `done`; whether it came.
pub(crate) fn wait_for(done: impl Fn() -> bool) -> bool {
    let started = Instant::now();
    while !done() {
        if started.elapsed() > WAIT {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    true
}
