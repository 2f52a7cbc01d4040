//! A global allocator for the test binaries that check memory promises: it forwards every call to
//! the system allocator, counts the allocations a thread makes while it asks for them
//! ([`allocations_in`]), and tallies the bytes the whole binary holds ([`live_bytes`]). Each binary
//! declares its own `#[global_allocator] static ALLOCATOR: CountingAllocator = CountingAllocator;`.

// Each test binary that includes this module uses a different part of it.
#![allow(dead_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicI64, Ordering};

/// Forwards to [`System`], counting as it goes.
pub(crate) struct CountingAllocator;

thread_local! {
    /// Allocations made by this thread since it began counting, or `None` when it is not counting.
    static COUNT: Cell<Option<u64>> = const { Cell::new(None) };
}

/// Bytes allocated and not yet freed, by every thread of the binary.
static LIVE: AtomicI64 = AtomicI64::new(0);

/// Counts one allocation of `size` bytes.
fn allocated(size: i64) {
    // Relaxed: a tally, read after the fact; it orders no other memory.
    LIVE.fetch_add(size, Ordering::Relaxed);
    // `try_with`: allocations made while the thread's locals are torn down are not ours to count.
    let _ = COUNT.try_with(|count| count.set(count.get().map(|n| n + 1)));
}

// SAFETY: every call is forwarded to the system allocator unchanged; counting touches only an
// atomic and a const-initialised thread local, neither of which allocates.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        allocated(layout.size() as i64);
        // SAFETY: the caller's guarantees for `alloc` are passed on as they are.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        allocated(layout.size() as i64);
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        allocated(new_size as i64 - layout.size() as i64);
        // SAFETY: as for `alloc`; `ptr` came from this allocator, that is from `System`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // Relaxed: as in `allocated`.
        LIVE.fetch_sub(layout.size() as i64, Ordering::Relaxed);
        // SAFETY: `ptr` came from this allocator, that is from `System`, with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// The allocations (and reallocations) `f` makes on this thread; other threads' are not counted.
pub(crate) fn allocations_in(f: impl FnOnce()) -> u64 {
    COUNT.with(|count| count.set(Some(0)));
    f();
    COUNT.with(|count| count.replace(None)).unwrap_or(0)
}

/// Bytes allocated and not yet freed, by every thread of the binary.
pub(crate) fn live_bytes() -> i64 {
    // Relaxed: as in `allocated`.
    LIVE.load(Ordering::Relaxed)
}
