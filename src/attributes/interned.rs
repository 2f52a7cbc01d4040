//! Shared copies of the short strings a thread records again and again.
//!
//! The bridges are handed strings as borrowed `&str`, never as `&'static str` (`tracing`'s fields
//! and formatted messages; a `log` record's target and file when they come through `tracing`'s
//! `log` feature or a hand-built record), so each one must be copied into a shared string to
//! outlive the call: an allocation per field, per span, event or record, although most are the
//! same few values (a venue, a side, a static message, a module's path and file). Each thread keeps the last shared copies it made in a small
//! direct-mapped table, looked up by content: a string seen before is a reference-count increment.
//! Memory stays bounded: [`SLOTS`] strings of at most [`MAX_LEN`] bytes per thread; a string that
//! misses replaces the one in its slot.
//!
//! The table lives on the heap, made on the thread's first string (with that string's copy): its
//! 1 KiB of empty slots in the static thread-local block would lie among the words each span reads
//! and push them a page away from the thread pointer (see `metrics::series_cache::EMPTY_TABLE`).

use std::cell::RefCell;
use std::sync::Arc;

/// Table entries per thread (a power of two).
const SLOTS: usize = 64;

/// Longer strings are copied every time: they are rarely repeated, and would crowd the table.
const MAX_LEN: usize = 64;

type Table = [Option<Arc<str>>; SLOTS];

thread_local! {
    static TABLE: RefCell<Option<Box<Table>>> = const { RefCell::new(None) };
}

/// A shared string with `text`'s content: this thread's copy when it holds one, else a new one
/// (kept when short).
pub(crate) fn shared(text: &str) -> Arc<str> {
    if text.len() > MAX_LEN {
        return Arc::from(text);
    }
    let slot = slot_of(text);
    // `try_with` and `try_borrow_mut`: while the thread's locals are torn down, or should a
    // `Debug` impl record a field of its own in the middle of this (it cannot here), a plain copy.
    TABLE
        .try_with(|table| {
            let mut table = table.try_borrow_mut().ok()?;
            let table = table.get_or_insert_with(|| Box::new([const { None }; SLOTS]));
            if let Some(held) = table[slot].as_ref().filter(|held| ***held == *text) {
                return Some(held.clone());
            }
            let copy: Arc<str> = Arc::from(text);
            table[slot] = Some(copy.clone());
            Some(copy)
        })
        .ok()
        .flatten()
        .unwrap_or_else(|| Arc::from(text))
}

/// The table slot of `text`: FNV-1a over its bytes, folded to the table's size.
fn slot_of(text: &str) -> usize {
    let hash = text
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3));
    (hash ^ (hash >> 32)) as usize % SLOTS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_string_seen_before_is_the_same_copy() {
        let first = shared("XNAS");
        let owned = String::from("XNAS");
        assert!(Arc::ptr_eq(&first, &shared(&owned)), "found by content, wherever it lives");
        assert_eq!(&*shared("XNYS"), "XNYS");
        let long = "x".repeat(MAX_LEN + 1);
        assert!(!Arc::ptr_eq(&shared(&long), &shared(&long)), "long strings are not kept");
    }
}
