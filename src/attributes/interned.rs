//! Shared copies of the short strings a thread records again and again.
//!
//! The bridges are handed strings as borrowed `&str`, never as `&'static str` (`tracing`'s fields
//! and formatted messages; a `log` record's target and file when they come through `tracing`'s
//! `log` feature or a hand-built record), so each one must be copied into a shared string to
//! outlive the call: an allocation per field, per span, event or record, although most are the
//! same few values (a venue, a side, a static message, a module's path and file). Each thread keeps the last shared copies it made in a small
//! table, looked up by content: a string seen before is a reference-count increment.
//! Memory stays bounded: `SETS * WAYS` (64) strings of at most [`MAX_LEN`] bytes per thread.
//!
//! The table is set-associative: a string's hash picks one of [`SETS`] sets of [`WAYS`] entries,
//! kept most recently used first; a string found moves to its set's front, and one that misses
//! takes the front, the set's least recently used falling off. Until session 42 each string had
//! one slot of its own, so two recurring strings whose hashes shared it (about even odds among ten
//! values) pushed each other out and allocated on every use; now a set holds its four.
//!
//! The table lives on the heap, made on the thread's first string (with that string's copy): its
//! 1 KiB of empty slots in the static thread-local block would lie among the words each span reads
//! and push them a page away from the thread pointer (see `metrics::series_cache::EMPTY_TABLE`).

use std::cell::RefCell;
use std::sync::Arc;

/// Entries per set: the most recurring strings that can share a set without one pushing another
/// out.
const WAYS: usize = 4;

/// Sets per thread.
const SETS: usize = 16;

/// Longer strings are copied every time: they are rarely repeated, and would crowd the table.
const MAX_LEN: usize = 64;

type Table = [[Option<Arc<str>>; WAYS]; SETS];

thread_local! {
    static TABLE: RefCell<Option<Box<Table>>> = const { RefCell::new(None) };
}

/// A shared string with `text`'s content: this thread's copy when it holds one, else a new one
/// (kept when short).
pub(crate) fn shared(text: &str) -> Arc<str> {
    if text.len() > MAX_LEN {
        return Arc::from(text);
    }
    let set = set_of(text);
    // `try_with` and `try_borrow_mut`: while the thread's locals are torn down, or should a
    // `Debug` impl record a field of its own in the middle of this (it cannot here), a plain copy.
    TABLE
        .try_with(|table| {
            let mut table = table.try_borrow_mut().ok()?;
            let table = table.get_or_insert_with(|| Box::new([const { [const { None }; WAYS] }; SETS]));
            Some(kept_in(&mut table[set], text))
        })
        .ok()
        .flatten()
        .unwrap_or_else(|| Arc::from(text))
}

/// `text`'s copy in `set`, moved to its front; or a new copy put there, the last one falling off.
fn kept_in(set: &mut [Option<Arc<str>>; WAYS], text: &str) -> Arc<str> {
    let found = set.iter().position(|held| held.as_deref() == Some(text));
    let at = found.unwrap_or(WAYS - 1);
    if found.is_none() {
        set[at] = Some(Arc::from(text));
    }
    set[..=at].rotate_right(1);
    set[0].clone().unwrap_or_else(|| Arc::from(text))
}

/// The set of `text`: FNV-1a over its bytes, folded to the number of sets.
fn set_of(text: &str) -> usize {
    let hash = text
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3));
    (hash ^ (hash >> 32)) as usize % SETS
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

    /// Strings whose hashes pick one set: until session 42 two of them took turns in one slot and
    /// each use of one made a new copy.
    fn sharing_a_set(count: usize) -> Vec<String> {
        let set = set_of("venue-0");
        (0..).map(|n| format!("venue-{n}")).filter(|text| set_of(text) == set).take(count).collect()
    }

    #[test]
    fn strings_sharing_a_set_are_kept_side_by_side() {
        std::thread::spawn(|| {
            let texts = sharing_a_set(4);
            let first: Vec<Arc<str>> = texts.iter().map(|text| shared(text)).collect();
            for _ in 0..3 {
                for (text, copy) in texts.iter().zip(&first) {
                    assert!(Arc::ptr_eq(copy, &shared(text)), "{text} was kept");
                }
            }
        })
        .join()
        .unwrap();
    }

    #[test]
    fn the_least_recently_used_of_a_full_set_falls_off() {
        std::thread::spawn(|| {
            let texts = sharing_a_set(5);
            let oldest = shared(&texts[0]);
            let second = shared(&texts[1]);
            shared(&texts[0]); // used again: the second is now the set's least recently used
            for text in &texts[2..] {
                shared(text);
            }
            assert!(Arc::ptr_eq(&oldest, &shared(&texts[0])), "used again, so kept");
            assert!(!Arc::ptr_eq(&second, &shared(&texts[1])), "the least recently used fell off");
        })
        .join()
        .unwrap();
    }
}
