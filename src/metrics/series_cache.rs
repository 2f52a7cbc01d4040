//! A per-thread memo of the series each call site last resolved, so that recording with the same
//! attributes from the same place skips hashing and probing the series table.
//!
//! A call site usually builds its attributes in the same place every time (an array on the stack
//! of the same frame, or a slice the program keeps), so the slice's address identifies the call
//! site well. An entry maps (table, slice address) to the series resolved for it, with the
//! identity of the pairs the slice held then: for each pair, the address and length of its static
//! key, and its value's static string (address and length) or scalar. A static string's address
//! and length determine its characters for the life of the process, so a slice whose pairs have
//! the same identities holds the same attributes, and belongs to the same series. Pairs with
//! run-time strings (`Text::Shared`, whose memory may be freed and reused) or composite values
//! are never remembered: such slices always take the full lookup.
//!
//! Entries hold raw pointers to a table's series. They are used only while that table lives:
//! each table has a process-unique [`TableId`], and an entry is read only for the table whose id
//! it holds (the caller borrows that table). A plain table's series live as long as it does. A
//! table that unlinks series takes a new id (never used before) after every unlink, before the
//! unlinked series' grace period starts, and its callers read the id and the entry under an epoch
//! pin: an entry made under an older id never matches again, and one that matches points to a
//! series the pin keeps allocated (see `series_map::reclaim`).

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::attributes::{KeyValue, Text, Value};

/// Entries per thread: a handful of call sites per hot loop, over a few instruments.
const ENTRIES: usize = 32;
/// The most pairs a remembered slice has: the usual measurement carries a few.
const MAX_PAIRS: usize = 4;

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
        // Relaxed: only uniqueness matters, which the atomic increment gives; counting up from 1,
        // ids never reach an empty entry's (`EMPTY_TABLE`).
        static NEXT: AtomicU64 = AtomicU64::new(1);
        TableId::from_raw(NEXT.fetch_add(1, Ordering::Relaxed))
    }

    /// The id's number, for a table that keeps its current id in an atomic.
    pub(crate) fn raw(self) -> u64 {
        self.id
    }

    /// The id whose number is `id` (from [`raw`](TableId::raw)).
    #[inline]
    pub(crate) fn from_raw(id: u64) -> TableId {
        TableId { id, salt: (id.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32) as usize }
    }

    #[inline]
    fn index(self, attributes: &[KeyValue]) -> usize {
        // Pairs are at least 8-byte aligned: the low three address bits carry nothing.
        ((attributes.as_ptr() as usize >> 3) ^ self.salt) & (ENTRIES - 1)
    }
}

/// A pair's identity: its static key, and its value's static string or scalar. `value_b` is a
/// string's length, or (for scalars) a tag no string length can equal.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct PairId {
    key: usize,
    key_len: usize,
    value_a: u64,
    value_b: u64,
}

/// `PairId::value_b` of the scalar types (string lengths never exceed `isize::MAX`).
const I64_TAG: u64 = u64::MAX;
const BOOL_TAG: u64 = u64::MAX - 1;
const F64_TAG: u64 = u64::MAX - 2;

impl PairId {
    const EMPTY: PairId = PairId { key: 0, key_len: 0, value_a: 0, value_b: 0 };

    /// The identity of a pair with a static key and a static string or scalar value.
    fn of(pair: &KeyValue) -> Option<PairId> {
        let Text::Static(key) = pair.key else { return None };
        let (value_a, value_b) = match &pair.value {
            Value::Str(Text::Static(value)) => (value.as_ptr() as u64, value.len() as u64),
            Value::I64(value) => (*value as u64, I64_TAG),
            Value::Bool(value) => (u64::from(*value), BOOL_TAG),
            Value::F64(value) => (value.to_bits(), F64_TAG),
            _ => return None,
        };
        Some(PairId { key: key.as_ptr() as usize, key_len: key.len(), value_a, value_b })
    }

    /// Whether `pair` has this identity, for a static string value only: anything else answers
    /// `false` (see [`recall_strings`]).
    #[inline]
    fn is_string_pair(&self, pair: &KeyValue) -> bool {
        match (&pair.key, &pair.value) {
            (Text::Static(key), Value::Str(Text::Static(value))) => {
                key.as_ptr() as usize == self.key
                    && key.len() == self.key_len
                    && value.as_ptr() as u64 == self.value_a
                    && value.len() as u64 == self.value_b
            }
            _ => false,
        }
    }
}

struct Entry {
    table: u64,
    slice: *const KeyValue,
    len: usize,
    series: *const (),
    pairs: [PairId; MAX_PAIRS],
}

/// The table id of an empty entry, which no table has.
///
/// Not zero on purpose: an initial value that is not all zeros puts the cache (5 KiB) in the
/// initialised part of the static thread-local block (`.tdata`), which the ELF layout places before
/// the zero-initialised part (`.tbss`). On `x86_64` the block ends at the thread pointer, whose
/// line a library's thread-local access reads (`mov %fs:0`), and the thread-locals a span or a log
/// record reads (`trace::recorder`'s and `logs::buffers`' rings, `trace::context`'s current span,
/// `trace::ids`' generator) start at zero: so they sit together at the block's end, on the thread
/// pointer's page. With a zeroed cache among them, a span touched two pages of thread-locals
/// (benches/README.md, session 17; tested in `tests::the_cache_is_not_among_the_hot_thread_locals`).
const EMPTY_TABLE: u64 = u64::MAX;

const EMPTY: Entry = Entry {
    table: EMPTY_TABLE,
    slice: std::ptr::null(),
    len: 0,
    series: std::ptr::null(),
    pairs: [PairId::EMPTY; MAX_PAIRS],
};

thread_local! {
    /// `const` and without a destructor: each access is a plain thread-local address.
    static CACHE: [UnsafeCell<Entry>; ENTRIES] = const { [const { UnsafeCell::new(EMPTY) }; ENTRIES] };
}

/// Runs `visit` on this thread's entry for a slice at this address in `table`.
#[inline(always)]
fn with_entry<R>(table: TableId, attributes: &[KeyValue], visit: impl FnOnce(&mut Entry) -> R) -> R {
    // Only the address is taken inside `with`, so that it inlines to a thread-local offset.
    let entry = CACHE.with(|cache| cache[table.index(attributes)].get());
    // SAFETY: the entries are this thread's and live as long as it does; the closures given here
    // (this module's own) neither keep the reference nor come back to `with_entry`, so it is the
    // only one.
    visit(unsafe { &mut *entry })
}

/// The series remembered in `table` for a slice at this address whose pairs are, one by one,
/// those it held then, all with static string values: the usual case, compared inline. `None`
/// for anything else, which [`recall`] answers out of line.
#[inline]
pub(crate) fn recall_strings(table: TableId, attributes: &[KeyValue]) -> Option<*const ()> {
    recall_if(table, attributes, |pair, id| id.is_string_pair(pair))
}

/// [`recall_strings`] for pairs of any value type that can be remembered.
pub(crate) fn recall(table: TableId, attributes: &[KeyValue]) -> Option<*const ()> {
    recall_if(table, attributes, |pair, id| PairId::of(pair) == Some(*id))
}

/// The entry's series when it is this table's, for a slice at this address and of this length,
/// and `same` holds for each pair and its remembered identity.
#[inline(always)]
fn recall_if(table: TableId, attributes: &[KeyValue], same: impl Fn(&KeyValue, &PairId) -> bool) -> Option<*const ()> {
    with_entry(table, attributes, |entry| {
        let found = entry.table == table.id
            && entry.slice == attributes.as_ptr()
            && entry.len == attributes.len()
            && attributes.iter().zip(&entry.pairs).all(|(pair, id)| same(pair, id));
        found.then_some(entry.series)
    })
}

/// Notes that the slice at this address, holding these very pairs, resolved to `series` in
/// `table` (the caller has checked that they are exactly the series' attributes or, for a table
/// with an attribute filter, that the pairs the filter keeps are), when they can be remembered: at most [`MAX_PAIRS`], each with a static key and a static string or scalar value.
pub(crate) fn remember(table: TableId, attributes: &[KeyValue], series: *const ()) {
    if attributes.len() > MAX_PAIRS {
        return;
    }
    let mut pairs = [PairId::EMPTY; MAX_PAIRS];
    for (id, pair) in pairs.iter_mut().zip(attributes) {
        match PairId::of(pair) {
            Some(identity) => *id = identity,
            None => return,
        }
    }
    with_entry(table, attributes, |entry| {
        *entry = Entry { table: table.id, slice: attributes.as_ptr(), len: attributes.len(), series, pairs }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn entries_belong_to_one_table_one_address_one_thread_and_the_same_pairs() {
        let (a, b) = (TableId::new(), TableId::new());
        let marker = 0u8;
        let series: *const () = (&raw const marker).cast();
        let mut here = [KeyValue::new("side", "buy"), KeyValue::new("qty", 100)];
        let there = here.clone();
        assert_eq!(recall(a, &here), None);
        remember(a, &here, series);
        assert_eq!(recall(a, &here), Some(series));
        // A non-string value: only the out-of-line comparison answers.
        assert_eq!(recall_strings(a, &here), None);
        assert_eq!(recall(b, &here), None);
        assert_eq!(recall(a, &there), None);
        assert_eq!(recall(a, &here[..1]), None);
        std::thread::scope(|s| s.spawn(|| assert_eq!(recall(a, &here), None)).join()).unwrap();
        // Another value at the same address is another identity.
        here[1] = KeyValue::new("qty", 200);
        assert_eq!(recall(a, &here), None);

        let strings = [KeyValue::new("side", "buy"), KeyValue::new("venue", "XNAS")];
        remember(a, &strings, series);
        assert_eq!((recall_strings(a, &strings), recall(a, &strings)), (Some(series), Some(series)));
    }

    /// The thread pointer: where the thread's static thread-local block ends (`x86_64`, variant
    /// II of the ELF TLS layout), and the line a library's thread-local access reads.
    #[cfg(all(target_arch = "x86_64", target_os = "linux", not(nanotel_loom)))]
    fn thread_pointer() -> usize {
        let pointer: usize;
        // SAFETY: reads the thread control block's pointer to itself, which the thread's runtime
        // set up before any Rust code ran on it; no memory is written.
        unsafe {
            std::arch::asm!("mov {}, qword ptr fs:[0]", out(reg) pointer, options(nostack, readonly, preserves_flags));
        };
        pointer
    }

    /// The test executable's TLS segment (`PT_TLS`): the initialised part's size, the whole
    /// size and the alignment, read from its ELF program headers.
    #[cfg(all(target_arch = "x86_64", target_os = "linux", not(nanotel_loom)))]
    fn tls_segment() -> (usize, usize, usize) {
        let elf = std::fs::read("/proc/self/exe").expect("the test executable is readable");
        let word = |at: usize, bytes: usize| {
            elf[at..at + bytes].iter().rev().fold(0usize, |word, byte| word << 8 | usize::from(*byte))
        };
        let (offset, size, count) = (word(0x20, 8), word(0x36, 2), word(0x38, 2));
        (0..count)
            .map(|index| offset + index * size)
            .find(|header| word(*header, 4) == 7)
            .map(|header| (word(header + 0x20, 8), word(header + 0x28, 8), word(header + 0x30, 8)))
            .expect("the test executable has thread-locals")
    }

    #[test]
    #[cfg(all(target_arch = "x86_64", target_os = "linux", not(nanotel_loom)))]
    fn the_cache_is_not_among_the_hot_thread_locals() {
        use crate::buffer::thread_rings::RingOwner;
        use crate::trace::recorder::Recorder;
        let cache = CACHE.with(|cache| cache.as_ptr_range());
        let mut hot = vec![crate::trace::ids::generator_address()];
        hot.extend(crate::trace::context::thread_local_addresses());
        hot.push(Recorder::last().with(|last| std::ptr::from_ref(last) as usize));
        let pointer = thread_pointer();
        // The executable's block ends at the thread pointer; its initialised part comes first.
        let (initialised, whole, align) = tls_segment();
        let block = pointer - whole.next_multiple_of(align);
        let zeroed = block + initialised;
        assert!(block <= cache.start as usize && cache.end as usize <= zeroed, "the cache is initialised (.tdata)");
        assert!(hot.iter().all(|address| (zeroed..pointer).contains(address)), "the hot ones are zeroed (.tbss)");
        let lowest = hot.iter().copied().min().unwrap_or(pointer);
        assert!(
            pointer - lowest < 1024,
            "the hot thread-locals lie {} bytes below the thread pointer",
            pointer - lowest
        );
    }

    #[test]
    fn run_time_strings_and_long_slices_are_not_remembered() {
        let table = TableId::new();
        let marker = 0u8;
        let series: *const () = (&raw const marker).cast();
        let shared = [KeyValue::new(Text::Shared(Arc::from("side")), "buy")];
        remember(table, &shared, series);
        assert_eq!(recall(table, &shared), None);
        let long: Vec<KeyValue> = (0..=MAX_PAIRS as i64).map(|i| KeyValue::new("k", i)).collect();
        remember(table, &long, series);
        assert_eq!(recall(table, &long), None);
    }
}
