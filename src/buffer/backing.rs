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
    for offset in (0..len).step_by(STRIDE) {
        // SAFETY: inside the caller's bytes, which it alone writes, and where a zero is valid (as
        // the caller guarantees). Volatile: the write is wanted for its effect on the page, and the
        // compiler would drop a store of the zero the allocator already put there.
        unsafe { start.add(offset).write_volatile(0) };
    }
}
