//! Backing a buffer's memory at once. A thread's span slab and ring, and its log ring, are
//! allocated lazily backed: the kernel gives each page memory when it is first written, so a
//! thread costs resident memory only for the spans it has had in flight. The price is a page fault
//! on the recording thread the first time it writes each page (about 25 µs on a 2-core VM). A
//! program that would rather pay all of them up front, when a thread records its first span or
//! log record (`with_pages_backed_at_start`), has its buffers written once here.

/// The bytes between two writes: the smallest page size of the platforms nanotel runs on, so that
/// every page is written whatever the page size.
const STRIDE: usize = 4096;

/// Writes a zero byte into each page of the `len` bytes at `start`.
///
/// # Safety
/// The bytes must be the caller's alone to write (allocated by it, not yet shared), and a zero
/// byte at any of them must leave whatever they hold valid: zeroed slots, or storage that holds
/// no value yet.
pub(crate) unsafe fn back_each_page(start: *mut u8, len: usize) {
    if len == 0 {
        return;
    }
    // The first byte, then the first byte of each later page the bytes reach: counted from the
    // start instead, a buffer not aligned to a page (the allocator's usual 16 bytes past one) had
    // its last page left unwritten (until session 40), and its last slot faulted after all.
    let next_page = (start as usize).next_multiple_of(STRIDE) - start as usize;
    for offset in std::iter::once(0).chain((next_page..len).step_by(STRIDE)) {
        // SAFETY: inside the caller's bytes, which it alone writes, and where a zero is valid (as
        // the caller guarantees). Volatile: the write is wanted for its effect on the page, and the
        // compiler would drop a store of the zero the allocator already put there.
        unsafe { start.add(offset).write_volatile(0) };
    }
}

#[cfg(all(test, target_os = "linux", not(nanotel_loom)))]
mod tests {
    use super::*;

    /// Every page the bytes reach is resident afterwards, wherever in a page they start.
    #[test]
    fn every_page_of_an_unaligned_buffer_is_backed() {
        const PAGES: usize = 64;
        // Zeroed, large and with the usual alignment: `calloc` maps fresh pages and leaves them
        // untouched (no page resident until written), its block starting past a page's start.
        let layout = std::alloc::Layout::from_size_align(PAGES * STRIDE, 16).unwrap();
        for skew in [0, 16, 4000] {
            // SAFETY: a non-zero size; freed below with the same layout.
            let base = unsafe { std::alloc::alloc_zeroed(layout) };
            assert!(!base.is_null());
            let len = (PAGES - 2) * STRIDE;
            // SAFETY: `skew + len` is within the allocation, which is this test's alone and zeroed.
            unsafe { back_each_page(base.add(skew), len) };
            let first = (base as usize + skew) / STRIDE;
            let last = (base as usize + skew + len - 1) / STRIDE;
            let mut resident = vec![0u8; last - first + 1];
            // SAFETY: a page-aligned range inside the allocation, and one byte of room per page.
            let done = unsafe {
                libc::mincore((first * STRIDE) as *mut libc::c_void, resident.len() * STRIDE, resident.as_mut_ptr())
            };
            assert_eq!(done, 0);
            let missing: Vec<usize> = (0..resident.len()).filter(|&page| resident[page] & 1 == 0).collect();
            assert!(missing.is_empty(), "skew {skew}: pages {missing:?} of {} not backed", resident.len());
            // SAFETY: allocated above with `layout`.
            unsafe { std::alloc::dealloc(base, layout) };
        }
    }
}
