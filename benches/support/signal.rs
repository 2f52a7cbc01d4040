//! What the span and log benchmarks share: the clock floors their figures are held to, and timing
//! in bursts that the buffers are drained between.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::BenchmarkGroup;

/// Items timed between two drains: few enough that no thread's buffer fills.
const BURST: u64 = 256;

/// Adds `limit/instant_pair` (two `Instant::now()` calls) and `nanotel/clock_pair` (two reads of
/// nanotel's clock) to `group`.
pub fn clock_floors(group: &mut BenchmarkGroup<'_, WallTime>) {
    group.bench_function("limit/instant_pair", |b| {
        b.iter(|| {
            black_box(Instant::now());
            black_box(Instant::now());
        })
    });

    group.bench_function("nanotel/clock_pair", |b| {
        b.iter(|| {
            black_box(nanotel::clock::now_unix_nanos());
            black_box(nanotel::clock::now_unix_nanos());
        })
    });
}

/// Times `iterations` calls of `record` in bursts, calling `drain` (untimed) between them; `drain`
/// returns how many items were dropped, which must be none.
pub fn paced(iterations: u64, mut record: impl FnMut(), mut drain: impl FnMut() -> u64) -> Duration {
    let mut timed = Duration::ZERO;
    let mut done = 0;
    while done < iterations {
        let burst = BURST.min(iterations - done);
        let started = Instant::now();
        for _ in 0..burst {
            record();
        }
        timed += started.elapsed();
        done += burst;
        assert_eq!(drain(), 0, "a paced burst never fills the buffer");
    }
    timed
}
