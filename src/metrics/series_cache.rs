//! A per-thread memo of the series each call site last resolved, so that recording with the same
//! attribute slice again skips hashing and probing the series table.
//!
//! A call site usually builds its attributes in the same place every time (an array on the stack
//! of the same frame, or a slice the program keeps), so the slice's address identifies the call
//! site well. An entry maps (table, slice address) to the series resolved for it. It is only a
//! hint: the slice's pairs may have changed since, so the caller still compares them with the
//! series' set, pair by pair, before using it. A stale or colliding entry costs that comparison
//! and the full lookup; it is never wrong.
//!
//! Entries hold raw pointers into a table's series. They are used only while that table lives:
//! each table has a process-unique [`TableId`], and an entry is read only for the table whose id
//! it holds (the caller borrows that table, and series live as long as their table).

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::attributes::KeyValue;

/// Entries per thread: a handful of call sites per hot loop, over a few instruments.
const ENTRIES: usize = 64;

/// A series table's identity in the cache, never reused while the process lives.
#[derive(Clone, Copy)]
pub(crate) struct TableId {
    id: u64,
    /// Scrambled bits of the id, mixed into the entry index so that one call site recording to
    /// two instruments uses two entries.
    salt: usize,
}

impl TableId {
    pub(crate) fn new() -> TableId {
        // Relaxed: only uniqueness matters, which the atomic increment gives; ids start at 1 so
        // an empty entry (id 0) never matches.
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let id = NEXT.fetch_add(1, Ordering::Relaxed);
        TableId { id, salt: (id.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32) as usize }
    }

    #[inline]
    fn index(self, attributes: &[KeyValue]) -> usize {
        // Pairs are at least 8-byte aligned: the low three address bits carry nothing.
        ((attributes.as_ptr() as usize >> 3) ^ self.salt) & (ENTRIES - 1)
    }
}

/// What an entry remembers of a series: where it is, and where its attribute pairs are (so the
/// caller compares them without first loading the series).
#[derive(Clone, Copy, PartialEq, Debug)]
pub(crate) struct Remembered {
    pub series: *const (),
    pub pairs: *const KeyValue,
}

#[derive(Clone, Copy)]
struct Entry {
    table: u64,
    slice: *const KeyValue,
    len: usize,
    remembered: Remembered,
}

const EMPTY: Entry = Entry {
    table: 0,
    slice: std::ptr::null(),
    len: 0,
    remembered: Remembered { series: std::ptr::null(), pairs: std::ptr::null() },
};

thread_local! {
    /// `const` and without a destructor: each access is a plain thread-local load.
    static CACHE: [Cell<Entry>; ENTRIES] = const { [const { Cell::new(EMPTY) }; ENTRIES] };
}

/// What this thread last remembered in `table` for a slice of this length at this address, if
/// anything: as given to [`remember`] with `table`. Whether the slice still holds the same pairs
/// is the caller's to check.
#[inline]
pub(crate) fn recall(table: TableId, attributes: &[KeyValue]) -> Option<Remembered> {
    let entry = CACHE.with(|cache| cache[table.index(attributes)].get());
    (entry.table == table.id && entry.slice == attributes.as_ptr() && entry.len == attributes.len())
        .then_some(entry.remembered)
}

/// Notes that the slice at this address resolved in `table` as `remembered` says.
#[inline]
pub(crate) fn remember(table: TableId, attributes: &[KeyValue], remembered: Remembered) {
    CACHE.with(|cache| {
        cache[table.index(attributes)].set(Entry {
            table: table.id,
            slice: attributes.as_ptr(),
            len: attributes.len(),
            remembered,
        })
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_belong_to_one_table_one_address_and_one_thread() {
        let (a, b) = (TableId::new(), TableId::new());
        let here = [KeyValue::new("side", "buy")];
        let there = [KeyValue::new("side", "buy")];
        let marker = 0u8;
        let remembered = Remembered { series: (&marker as *const u8).cast(), pairs: here.as_ptr() };
        assert_eq!(recall(a, &here), None);
        remember(a, &here, remembered);
        assert_eq!(recall(a, &here), Some(remembered));
        assert_eq!(recall(b, &here), None);
        assert_eq!(recall(a, &there), None);
        assert_eq!(recall(a, &here[..0]), None);
        std::thread::scope(|s| s.spawn(|| assert_eq!(recall(a, &here), None)).join()).unwrap();
    }
}
