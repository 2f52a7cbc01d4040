//! Memory under churning attribute sets: about 100,000 symbols through a cardinality limit of
//! 2,000 in waves, under delta, hold what one wave holds. Alone in its binary, because it counts
//! the bytes the whole binary holds; one test.

#[path = "support/alloc.rs"]
mod alloc_support;

use alloc_support::{live_bytes, CountingAllocator};
use nanotel::attributes::{KeyValue, Value};
use nanotel::metrics::{MeterProvider, TemporalityPreference};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// 51 waves of 1,999 new symbols (each filling the table), each followed by the collection that
/// exports it and the idle one that evicts it: the bytes held at each wave's peak and after each
/// wave's eviction stay what they were for the first wave. Evicted series that were never freed
/// (a counter's and a histogram's per symbol, about 8 KiB with their stripes) would add some
/// 15 MiB a wave.
#[test]
fn memory_is_bounded_under_churning_attribute_sets() {
    const WAVES: i64 = 51;
    const WAVE: i64 = 1_999;
    let provider = MeterProvider::builder()
        .without_env()
        .with_temporality(TemporalityPreference::Delta)
        .with_delta_idle_collections(1)
        .with_cardinality_limit(2_000)
        .build();
    let meter = provider.meter("md");
    let ticks = meter.u64_counter("ticks").build().unwrap();
    let latency = meter.f64_histogram("latency").build().unwrap();
    let (mut first, mut peaks, mut rests) = (None, Vec::new(), Vec::new());
    for wave in 0..WAVES {
        for i in 0..WAVE {
            let id = wave * WAVE + i;
            let attributes = [KeyValue::new("venue", "XNAS"), KeyValue::new("symbol", Value::I64(id))];
            ticks.add(1, &attributes);
            latency.record(id as f64, &attributes);
        }
        peaks.push(live_bytes());
        let exported: usize = provider.collect().iter().flat_map(|s| &s.metrics).count();
        assert_eq!(exported, 2, "wave {wave}");
        // The idle collection evicts the wave; a few more let the grace period pass and free it.
        for _ in 0..4 {
            assert!(provider.collect().is_empty());
        }
        rests.push(live_bytes());
        first.get_or_insert(peaks[0] - rests[0]);
    }
    let wave_bytes = first.unwrap_or(0);
    assert!(wave_bytes > 1 << 20, "a wave holds its series: {wave_bytes} bytes");
    let slack = wave_bytes / 10;
    let (peak, rest) = (peaks.iter().max().unwrap_or(&0), rests.iter().max().unwrap_or(&0));
    assert!(peak - peaks[0] < slack, "peaks {peaks:?}");
    assert!(rest - rests[0] < slack, "after eviction {rests:?}");
    eprintln!("a wave holds {wave_bytes} bytes; peaks {}..{peak}, after eviction {}..{rest}", peaks[0], rests[0]);
}
