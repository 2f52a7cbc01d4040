//! Trace ids for the sampling tests, shared with the official SDK cross-check in benches/tests.

use nanotel::trace::TraceId;

/// A reproducible spread of trace ids (splitmix64), independent of the crate's own generator.
pub(crate) fn trace_ids(count: usize) -> impl Iterator<Item = TraceId> {
    let mut state = 0x1234_5678_9abc_def0u64;
    let mut next = move || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    (0..count).map(move |_| TraceId::from_bytes(((u128::from(next()) << 64) | u128::from(next())).to_be_bytes()))
}
