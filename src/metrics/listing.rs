//! A list that `'static` items join once and never leave: the process-wide lists of
//! [`StaticCounter`](super::StaticCounter)s and [`StaticHistogram`](super::StaticHistogram)s, which
//! the installed meter provider walks at each collection to register the ones it has not seen yet.
//!
//! The protocol: an item joins by swapping its own `joined` flag (only the first swap goes on), then
//! by pointing its link at the current head and compare-and-swapping the head from that value to
//! itself (Release), retrying with the new head if another item joined meanwhile. Readers load the
//! head (Acquire) and follow the links. A link is written only before its item is published and
//! never after, and nothing leaves, so a reader holding any item can walk to the end without
//! meeting a change, and the items before the head a reader saw last are exactly those that
//! joined since.
//!
//! Joining takes no lock and allocates nothing (the links live in the items); it runs once per
//! item, off the hot path. Under loom (`cfg(nanotel_loom)`) the atomics are loom's, and the model
//! below joins from two threads while a third walks.

use std::ptr;

use crate::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};

/// An item's place in a [`Listing`].
pub(crate) struct Link<T: 'static> {
    joined: AtomicBool,
    /// Unix nanoseconds when the item joined (its first use); 0 before. Written once, before the
    /// item is published.
    joined_at: AtomicU64,
    /// The item that was the head when this one joined; null for the first. Written once, before
    /// the item is published.
    next: AtomicPtr<T>,
}

impl<T> Link<T> {
    /// The link of an item that has not joined.
    #[cfg(not(nanotel_loom))]
    pub(crate) const fn new() -> Self {
        Link { joined: AtomicBool::new(false), joined_at: AtomicU64::new(0), next: AtomicPtr::new(ptr::null_mut()) }
    }

    #[cfg(nanotel_loom)]
    pub(crate) fn new() -> Self {
        Link { joined: AtomicBool::new(false), joined_at: AtomicU64::new(0), next: AtomicPtr::new(ptr::null_mut()) }
    }
}

impl<T> Link<T> {
    /// Unix nanoseconds when the item joined, for an item found by [`Listing::walk`] (which sees
    /// it written); 0 for one that has not joined.
    pub(crate) fn joined_at(&self) -> u64 {
        // Relaxed: written before the item was published (see `join`), never after.
        self.joined_at.load(Ordering::Relaxed)
    }
}

/// What can join a [`Listing`]: an item with a [`Link`] of its own.
pub(crate) trait Listed: Sync + Sized + 'static {
    fn link(&self) -> &Link<Self>;
}

/// The list: its most recently joined item.
pub(crate) struct Listing<T: 'static> {
    head: AtomicPtr<T>,
}

impl<T: Listed> Listing<T> {
    #[cfg(not(nanotel_loom))]
    pub(crate) const fn new() -> Self {
        Listing { head: AtomicPtr::new(ptr::null_mut()) }
    }

    #[cfg(nanotel_loom)]
    pub(crate) fn new() -> Self {
        Listing { head: AtomicPtr::new(ptr::null_mut()) }
    }

    /// Adds `item`, unless it joined before (then nothing happens).
    pub(crate) fn join(&self, item: &'static T) {
        // Relaxed: the flag only elects one joiner per item; what readers see is published by the
        // head's Release below.
        if item.link().joined.swap(true, Ordering::Relaxed) {
            return;
        }
        // Relaxed: published with the link by the head's Release below. The start of the item's
        // cumulative points, whichever provider reports it (see `static_reporting`).
        item.link().joined_at.store(super::series_map::unix_nanos(), Ordering::Relaxed);
        // The pointer is only ever read back as a shared reference (`walk`).
        let node = ptr::from_ref(item).cast_mut();
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            // Relaxed: published by the Release of the successful compare-and-swap, after which
            // it is never written again.
            item.link().next.store(head, Ordering::Relaxed);
            // Release pairs with the Acquire in `walk`: a reader that finds this item sees its
            // link. Relaxed on failure: the head read then is only the next guess.
            match self.head.compare_exchange_weak(head, node, Ordering::Release, Ordering::Relaxed) {
                Ok(_) => return,
                Err(now) => head = now,
            }
        }
    }

    /// The items, most recent first, up to (not including) `until`: all of them with `None`, or
    /// those that joined after `until` did. The first item returned is the head to pass next time.
    pub(crate) fn walk(&self, until: Option<&'static T>) -> Vec<&'static T> {
        let until = until.map_or(ptr::null(), ptr::from_ref);
        let mut items = Vec::new();
        // Acquire pairs with the Release in `join`: each item found, and every item it links to
        // (published before it), has its link written.
        let mut at = self.head.load(Ordering::Acquire).cast_const();
        while !at.is_null() && at != until {
            // SAFETY: every non-null pointer in the list is an item given to `join` as a
            // `&'static T`, never written through: valid and shared for the program's life.
            let item = unsafe { &*at };
            items.push(item);
            // Relaxed: written before the item was published (see above), never after.
            at = item.link().next.load(Ordering::Relaxed).cast_const();
        }
        items
    }

    /// Hands each item that joined since `seen` to `each`, oldest first, and moves `seen` to the
    /// newest.
    pub(crate) fn each_new(&self, seen: &mut Option<&'static T>, each: impl FnMut(&'static T)) {
        let new = self.walk(*seen);
        if let Some(&head) = new.first() {
            new.iter().rev().copied().for_each(each);
            *seen = Some(head);
        }
    }
}

#[cfg(all(test, not(nanotel_loom)))]
mod tests {
    use super::*;

    struct Item(Link<Item>);

    impl Listed for Item {
        fn link(&self) -> &Link<Self> {
            &self.0
        }
    }

    /// Items in statics (nothing leaked for the leak sanitizer to report), named by their index.
    static ITEMS: [Item; 64] = [const { Item(Link::new()) }; 64];

    fn numbers(items: &[&'static Item]) -> Vec<usize> {
        items.iter().map(|&item| ITEMS.iter().position(|listed| ptr::eq(listed, item)).unwrap()).collect()
    }

    #[test]
    fn walks_what_joined_since_the_head_it_saw_and_an_item_joins_once() {
        let listing = Listing::new();
        listing.join(&ITEMS[1]);
        listing.join(&ITEMS[2]);
        listing.join(&ITEMS[1]);
        let first = listing.walk(None);
        assert_eq!(numbers(&first), [2, 1]);
        listing.join(&ITEMS[3]);
        assert_eq!(numbers(&listing.walk(Some(first[0]))), [3]);
        assert_eq!(numbers(&listing.walk(None)), [3, 2, 1]);
    }

    #[test]
    fn items_joining_from_many_threads_are_all_listed_once() {
        // Items 4 and up: apart from the other test's, which may run at the same time.
        let listing = Listing::new();
        std::thread::scope(|s| {
            for chunk in ITEMS[4..].chunks(6) {
                let listing = &listing;
                s.spawn(move || chunk.iter().chain(chunk).for_each(|item| listing.join(item)));
            }
        });
        let mut listed = numbers(&listing.walk(None));
        listed.sort_unstable();
        assert_eq!(listed, (4..64).collect::<Vec<_>>());
    }
}

#[cfg(all(test, nanotel_loom))]
mod loom_models {
    use super::*;

    struct Item(u32, Link<Item>);

    impl Listed for Item {
        fn link(&self) -> &Link<Self> {
            &self.1
        }
    }

    /// Two items join from two threads (one of them twice, from both) while a third thread walks:
    /// the walker sees a suffix of the final list, every link it follows written; at the end
    /// both items are listed once.
    #[test]
    fn loom_joins_race_a_walk() {
        loom::model(|| {
            let listing: &'static Listing<Item> = Box::leak(Box::new(Listing::new()));
            let a: &'static Item = Box::leak(Box::new(Item(1, Link::new())));
            let b: &'static Item = Box::leak(Box::new(Item(2, Link::new())));
            let first = loom::thread::spawn(move || {
                listing.join(a);
                listing.join(b);
            });
            let second = loom::thread::spawn(move || listing.join(b));
            let seen: Vec<u32> = listing.walk(None).iter().map(|item| item.0).collect();
            assert!(seen.len() <= 2 && seen.iter().all(|n| [1, 2].contains(n)));
            assert!(seen.windows(2).all(|pair| pair[0] != pair[1]));
            first.join().unwrap();
            second.join().unwrap();
            let mut all: Vec<u32> = listing.walk(None).iter().map(|item| item.0).collect();
            all.sort_unstable();
            assert_eq!(all, [1, 2]);
        });
    }
}
