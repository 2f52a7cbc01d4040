//! The pipeline's queues: bounded, multi-producer, and allocated as they fill.
//!
//! A queue is crossbeam's `SegQueue` (its slots come in small blocks, allocated as items arrive
//! and freed as they leave) under a count of the places taken. The bound is a limit, not an
//! allocation: `OTEL_BSP_MAX_QUEUE_SIZE=2147483647`, a value the specification requires SDKs to
//! accept, once made a queue of that many slots up front (about 600 GB for spans: the process
//! aborted at start); now memory follows the items held.
//!
//! Protocol: a push first takes a place (`taken.fetch_add(1)`); a place past `capacity` is given
//! back and the item refused. A pop gives its place back after it has taken its item. So at most
//! `capacity` items are held at any moment (the count may pass `capacity` only for a push that is
//! then refused): the bound holds exactly, however the threads interleave. The count is a pure
//! tally (every change a read-modify-write), so Relaxed suffices; the items themselves are handed
//! over by the `SegQueue`, which orders each push before the pop that takes it. `len` reads the
//! count (at most `capacity`), which may include a push under way or a pop not yet finished: a
//! reader sizing a drain from it (the exporter's `RecordSink::room`) errs on the side of less.
//!
//! Under `--cfg nanotel_loom` the items sit in a loom `Mutex<VecDeque>` instead, so that the
//! loom model below checks this file's counting against every interleaving (the `SegQueue` is
//! crossbeam's, tested there).

use crate::sync::atomic::{AtomicUsize, Ordering};

/// At most `capacity` items, in the order they were pushed.
pub(crate) struct BoundedQueue<T> {
    items: Items<T>,
    /// Places taken: items held, plus pushes under way (a refused one's for a moment), plus pops
    /// that have not yet given theirs back.
    taken: AtomicUsize,
    capacity: usize,
}

impl<T> BoundedQueue<T> {
    /// An empty queue for at most `capacity` items; nothing is allocated until the first push.
    pub(crate) fn new(capacity: usize) -> Self {
        BoundedQueue { items: Items::new(), taken: AtomicUsize::new(0), capacity }
    }

    /// Adds `item` at the end, or gives it back when the queue is full.
    pub(crate) fn push(&self, item: T) -> Result<(), T> {
        // Relaxed: a tally (see the module's notes); the `SegQueue` hands the item over.
        if self.taken.fetch_add(1, Ordering::Relaxed) >= self.capacity {
            self.taken.fetch_sub(1, Ordering::Relaxed);
            return Err(item);
        }
        self.items.push(item);
        Ok(())
    }

    /// The oldest item, if any.
    pub(crate) fn pop(&self) -> Option<T> {
        let item = self.items.pop()?;
        // Relaxed: a tally; the place is given back only after the item has left.
        self.taken.fetch_sub(1, Ordering::Relaxed);
        Some(item)
    }

    /// The places taken, at most `capacity` (see the module's notes: at least the items held).
    pub(crate) fn len(&self) -> usize {
        self.taken.load(Ordering::Relaxed).min(self.capacity)
    }

    /// Whether no place is taken.
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most items the queue holds.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }
}

#[cfg(not(nanotel_loom))]
type Items<T> = crossbeam_queue::SegQueue<T>;

#[cfg(nanotel_loom)]
type Items<T> = loom_items::Items<T>;

/// The items' queue under loom: the same calls on a loom `Mutex<VecDeque>`, which also keeps the
/// most items it ever held at once, for the model to check against the bound.
#[cfg(nanotel_loom)]
mod loom_items {
    use std::collections::VecDeque;

    pub(crate) struct Items<T>(loom::sync::Mutex<(VecDeque<T>, usize)>);

    impl<T> Items<T> {
        pub(crate) fn new() -> Self {
            Items(loom::sync::Mutex::new((VecDeque::new(), 0)))
        }

        pub(crate) fn push(&self, item: T) {
            let mut items = self.0.lock().expect("no model panics while holding it");
            items.0.push_back(item);
            items.1 = items.1.max(items.0.len());
        }

        pub(crate) fn pop(&self) -> Option<T> {
            self.0.lock().expect("no model panics while holding it").0.pop_front()
        }

        #[cfg(test)]
        pub(crate) fn most_held(&self) -> usize {
            self.0.lock().expect("no model panics while holding it").1
        }
    }
}

#[cfg(all(test, not(nanotel_loom)))]
mod tests {
    use super::BoundedQueue;

    #[test]
    fn a_full_queue_refuses_and_takes_again_once_popped() {
        let queue = BoundedQueue::new(2);
        assert_eq!((queue.push(1), queue.push(2), queue.push(3)), (Ok(()), Ok(()), Err(3)));
        assert_eq!((queue.len(), queue.capacity()), (2, 2));
        assert_eq!(queue.pop(), Some(1));
        assert_eq!(queue.push(4), Ok(()));
        assert_eq!((queue.pop(), queue.pop(), queue.pop()), (Some(2), Some(4), None));
        assert!(queue.is_empty());
    }

    /// The largest bound the specification lets a user set allocates nothing up front.
    #[test]
    fn the_largest_bound_costs_nothing_until_used() {
        let queue = BoundedQueue::new(2_147_483_647);
        for item in 0..1000 {
            assert_eq!(queue.push([item; 32]), Ok(()));
        }
        assert_eq!(queue.len(), 1000);
        assert_eq!(queue.pop(), Some([0; 32]));
    }

    /// Many threads pushing at once into a small queue: exactly `capacity` pushes are taken.
    #[test]
    fn concurrent_pushes_take_exactly_the_capacity() {
        let queue = &BoundedQueue::new(100);
        let accepted: usize = std::thread::scope(|scope| {
            let pushers: Vec<_> = (0..4)
                .map(|thread| {
                    scope.spawn(move || (0..1000).filter(|item| queue.push(thread * 1000 + item).is_ok()).count())
                })
                .collect();
            pushers.into_iter().map(|pusher| pusher.join().expect("no pusher panics")).sum()
        });
        assert_eq!((accepted, queue.len()), (100, 100));
        assert_eq!(std::iter::from_fn(|| queue.pop()).count(), 100);
    }
}

#[cfg(all(test, nanotel_loom))]
mod loom_models {
    use loom::sync::Arc;
    use loom::thread;

    use super::BoundedQueue;

    /// Two producers race for the one place while a consumer pops: at no point are more items
    /// held than the capacity, every item accepted is popped exactly once, and the count comes
    /// back to zero when the queue is empty.
    #[test]
    fn loom_a_queue_never_holds_more_than_its_capacity() {
        loom::model(|| {
            let queue = Arc::new(BoundedQueue::new(1));
            let producers: Vec<_> = (0..2)
                .map(|item| {
                    let queue = Arc::clone(&queue);
                    thread::spawn(move || queue.push(item).is_ok())
                })
                .collect();
            let popped = usize::from(queue.pop().is_some());
            let accepted: usize = producers.into_iter().map(|producer| usize::from(producer.join().unwrap())).sum();
            let left = std::iter::from_fn(|| queue.pop()).count();
            assert!(accepted >= 1, "the first push always finds the place free");
            assert_eq!(accepted, popped + left);
            assert_eq!(queue.items.most_held(), 1);
            assert_eq!(queue.len(), 0);
        });
    }
}
