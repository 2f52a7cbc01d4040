//! Stripes that a record claims whole: the protocol both histograms share.
//!
//! # Protocol
//!
//! A histogram record updates several cells (a bucket, the sum, the extremes; an exponential
//! rescale rewrites every bucket), and a delta collection must take all of a record or none of
//! it. So each stripe has a holder flag and plain, non-atomic contents. A recorder claims a stripe
//! with one compare-and-swap (Acquire), updates the contents, and releases the flag with one store
//! (Release); the collector claims each stripe the same way to read it and, for a delta, zero it.
//! Each holder's Acquire pairs with the previous holder's Release, so every holder sees all the
//! writes made before it, and no two threads ever reach the contents at once.
//!
//! A recorder never waits. It tries its own stripe (its stripe slot, see `stripe`), then every
//! other one; when all are held (their holders preempted mid-record, as happens when recording
//! threads outnumber cores, or the collector reading them), it claims a free *extra* stripe, or,
//! when none is free, makes a new one, born held, and pushes it onto the append-only list of
//! extras. Extras are collected like the fixed stripes and kept until the stripes are dropped, so
//! nothing is ever lost, and a histogram has at most as many extras as the most records of it
//! that were ever in progress at once beyond its fixed stripes: once it has them, it never
//! allocates again. The collector may wait for a holder to finish (spinning, then yielding), never
//! the other way round.

use std::ptr::{self, NonNull};

use crossbeam_utils::CachePadded;

use crate::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use crate::sync::{Patience, UnsafeCell};

use super::stripe;

#[cfg(nanotel_loom)]
use loom::hint::spin_loop;
#[cfg(not(nanotel_loom))]
use std::hint::spin_loop;

/// One stripe: the holder flag and the contents only the holder reaches. Also used alone, for the
/// sums' exemplar reservoirs (see `exemplar`), with `claim` and `claim_waiting` as here. The flag
/// first (`repr(C)`), so that contents laid out for it share its line (see `histogram`).
#[repr(C)]
pub(crate) struct Claimable<S> {
    held: AtomicBool,
    contents: UnsafeCell<S>,
}

// SAFETY: the contents are reached only through a `Held` guard, and at most one guard exists per
// stripe at a time (the flag's compare-and-swap), so sharing the stripe shares no access to `S`;
// `S: Send` because successive holders may be different threads.
unsafe impl<S: Send> Sync for Claimable<S> {}

impl<S> Claimable<S> {
    /// A stripe holding `contents`, held or free (`const`, so that a `static` can hold stripes:
    /// see `static_histogram`).
    #[cfg(not(nanotel_loom))]
    pub(crate) const fn new(contents: S, held: bool) -> Self {
        Claimable { held: AtomicBool::new(held), contents: UnsafeCell::new(contents) }
    }

    /// The same under loom, whose atomics have no `const` constructor.
    #[cfg(nanotel_loom)]
    pub(crate) fn new(contents: S, held: bool) -> Self {
        Claimable { held: AtomicBool::new(held), contents: UnsafeCell::new(contents) }
    }

    /// The stripe, if no one holds it. Acquire pairs with the Release in `Held::drop`: the new
    /// holder sees every write of the previous holders.
    #[inline]
    pub(crate) fn claim(&self) -> Option<Held<'_, S>> {
        let claimed = self.held.compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed).is_ok();
        // Built only when claimed: dropping a guard releases the stripe.
        claimed.then(|| Held { stripe: self })
    }

    /// The stripe, once its holder (a record, which never waits) releases it.
    pub(crate) fn claim_waiting(&self) -> Held<'_, S> {
        let (mut spins, mut patience) = (0u32, Patience::new());
        loop {
            if let Some(held) = self.claim() {
                return held;
            }
            spins += 1;
            if spins < 64 {
                spin_loop();
            } else {
                // The holder was preempted mid-record: let it run, whatever its priority (a
                // collection on a program's real-time thread, say: see `Patience`).
                patience.wait();
            }
        }
    }
}

/// A held stripe; dropping it releases the stripe (also when its holder unwinds, so a stripe
/// can never stay held).
pub(crate) struct Held<'a, S> {
    stripe: &'a Claimable<S>,
}

impl<S> Held<'_, S> {
    /// Runs `f` on the stripe's contents.
    #[inline]
    pub(crate) fn with<R>(&mut self, f: impl FnOnce(&mut S) -> R) -> R {
        // SAFETY: this guard holds the stripe (see `Claimable`'s `Sync`), and `&mut self` keeps
        // the reference from outliving this call or meeting another from the same guard.
        self.stripe.contents.with_mut(|contents| f(unsafe { &mut *contents }))
    }
}

impl<S> Drop for Held<'_, S> {
    #[inline]
    fn drop(&mut self) {
        // Release pairs with the Acquire of the next `claim`.
        self.stripe.held.store(false, Ordering::Release);
    }
}

/// What a bound handle keeps of its cells' fixed stripes: their address and number. A record
/// then claims its home stripe from the handle's own memory and the thread's stripe slot, not
/// through the stripes' header: one dependent miss fewer when the caches are cold (see
/// benches/README.md, `cold`). When the home stripe is held, the record goes through the cells
/// as usual ([`Stripes::claim`]), which tries the others.
pub(crate) struct HomeStripes<S> {
    first: NonNull<CachePadded<Claimable<S>>>,
    /// The fixed stripes' number less one (it is a power of two).
    mask: usize,
}

impl<S> Clone for HomeStripes<S> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<S> Copy for HomeStripes<S> {}

// SAFETY: the pointer names stripes that the handle holding it keeps alive (an `Arc` of their
// series); they are shared by this module's protocol, exactly as through `Stripes`.
unsafe impl<S: Send> Send for HomeStripes<S> {}
// SAFETY: as above.
unsafe impl<S: Send> Sync for HomeStripes<S> {}

impl<S> HomeStripes<S> {
    /// The stripe of the thread's slot, if no one holds it, found from `home`'s prediction when
    /// the thread's slot is the predicted one (see [`stripe::HomeSlot`]): a cold record then asks
    /// for the stripe and the thread-local at once.
    ///
    /// # Safety
    /// The stripes these were taken from ([`Stripes::home_stripes`]) must be alive for `'a`.
    #[inline(always)]
    pub(crate) unsafe fn claim_predicted<'a>(self, home: &stripe::HomeSlot) -> Option<Held<'a, S>> {
        let predicted = home.predicted();
        let predicted_stripe = self.stripe(predicted);
        let slot = stripe::slot_word();
        let stripe = if slot == predicted { predicted_stripe } else { self.unpredicted(home) };
        // SAFETY: the caller guarantees the stripes are alive for as long as the guard.
        unsafe { stripe.as_ref() }.claim()
    }

    /// The stripe of a thread whose slot is not the predicted one (settling it: see
    /// [`stripe::slot`]), which becomes the prediction if there was none. Out of line and
    /// cold, so that the predicted path runs on in sequence: a record whose caches
    /// went cold fetches its code from memory, and code in one run arrives sooner than code that
    /// jumps about (benches/README.md, session 20). Every thread but one takes it when threads
    /// share a handle: a call more for them (not measured).
    #[cold]
    #[inline(never)]
    fn unpredicted(self, home: &stripe::HomeSlot) -> NonNull<CachePadded<Claimable<S>>> {
        let slot = stripe::slot();
        home.learn(slot);
        self.stripe(slot)
    }

    /// The fixed stripe of `slot` (masked).
    #[inline(always)]
    fn stripe(self, slot: usize) -> NonNull<CachePadded<Claimable<S>>> {
        // SAFETY: masked below the fixed stripes' number, so inside their allocation.
        unsafe { self.first.add(slot & self.mask) }
    }
}

/// An extra stripe, in the list of extras.
struct Extra<S> {
    stripe: CachePadded<Claimable<S>>,
    /// The extra pushed before this one; written before this one is published, never after.
    next: *const Extra<S>,
}

/// A fixed number of stripes, and the extras made when all were held at once. The fixed ones lie
/// in `F`: a boxed slice for a series, an array inside a `static` for a static histogram.
pub(crate) struct Stripes<S, F = Box<[CachePadded<Claimable<S>>]>> {
    fixed: F,
    /// The last extra pushed: null, or a pointer from `Box::into_raw` that these stripes own.
    extras: AtomicPtr<Extra<S>>,
}

// SAFETY: the extras are `Claimable<S>`s owned by these stripes (freed in `drop`), shared exactly
// as the fixed ones are; their `next` pointers are immutable once published.
unsafe impl<S: Send, F: Send> Send for Stripes<S, F> {}
// SAFETY: as for `Send`.
unsafe impl<S: Send, F: Sync> Sync for Stripes<S, F> {}

impl<S: Send> Stripes<S> {
    /// `count` stripes (a power of two), each made by `make`.
    pub(crate) fn new(count: usize, mut make: impl FnMut() -> S) -> Self {
        debug_assert!(count.is_power_of_two());
        let fixed = (0..count).map(|_| CachePadded::new(Claimable::new(make(), false))).collect();
        Stripes { fixed, extras: AtomicPtr::new(ptr::null_mut()) }
    }
}

impl<S: Send, const N: usize> Stripes<S, [CachePadded<Claimable<S>>; N]> {
    /// The stripes `fixed` (a power of two of them), with no extra: `const`, for a `static`.
    #[cfg(not(nanotel_loom))]
    pub(crate) const fn inline(fixed: [CachePadded<Claimable<S>>; N]) -> Self {
        assert!(N.is_power_of_two());
        Stripes { fixed, extras: AtomicPtr::new(ptr::null_mut()) }
    }

    /// The same under loom, whose atomics have no `const` constructor.
    #[cfg(nanotel_loom)]
    pub(crate) fn inline(fixed: [CachePadded<Claimable<S>>; N]) -> Self {
        assert!(N.is_power_of_two());
        Stripes { fixed, extras: AtomicPtr::new(ptr::null_mut()) }
    }
}

impl<S: Send, F: AsRef<[CachePadded<Claimable<S>>]>> Stripes<S, F> {
    /// The fixed stripes.
    #[inline(always)]
    fn fixed(&self) -> &[CachePadded<Claimable<S>>] {
        self.fixed.as_ref()
    }

    /// A stripe for a record, never waiting: the stripe of `slot` (any number: it is masked),
    /// usually; see the protocol for the others. `make` makes an extra stripe's contents, which
    /// happens only when every stripe is held.
    #[inline]
    pub(crate) fn claim(&self, slot: usize, make: impl FnOnce() -> S) -> Held<'_, S> {
        // Masked first, so that the steps below cannot overflow whatever the slot number.
        let home = slot & (self.fixed().len() - 1);
        match self.fixed()[home].claim() {
            Some(held) => held,
            None => self.claim_elsewhere(home, make),
        }
    }

    /// The other fixed stripes in turn, then a free extra, then a new extra.
    #[cold]
    #[inline(never)]
    fn claim_elsewhere(&self, home: usize, make: impl FnOnce() -> S) -> Held<'_, S> {
        let mask = self.fixed().len() - 1;
        let others = (1..self.fixed().len()).map(|step| &*self.fixed()[(home + step) & mask]);
        match others.chain(self.extras()).find_map(Claimable::claim) {
            Some(held) => held,
            None => self.push_extra(make()),
        }
    }

    /// A new extra stripe holding `contents`, already held by the caller.
    fn push_extra(&self, contents: S) -> Held<'_, S> {
        let extra = Box::into_raw(Box::new(Extra {
            stripe: CachePadded::new(Claimable::new(contents, true)),
            next: ptr::null(),
        }));
        // Relaxed: the compare-and-swap below checks the value.
        let mut head = self.extras.load(Ordering::Relaxed);
        loop {
            // SAFETY: `extra` is not published yet: this thread alone reaches it.
            unsafe { (*extra).next = head };
            // Release publishes the extra (its contents and `next`) to the Acquire in `extras`.
            match self.extras.compare_exchange_weak(head, extra, Ordering::Release, Ordering::Relaxed) {
                Ok(_) => break,
                Err(current) => head = current,
            }
        }
        // SAFETY: the extra is now in the list, which frees it only when `self` is dropped.
        Held { stripe: unsafe { &(*extra).stripe } }
    }

    /// The extra stripes, the last pushed first.
    fn extras(&self) -> impl Iterator<Item = &Claimable<S>> {
        // Acquire pairs with the Release in `push_extra`: each extra reached comes fully built.
        let mut next = self.extras.load(Ordering::Acquire).cast_const();
        std::iter::from_fn(move || {
            // SAFETY: null, or an extra in the list, which lives as long as `self`.
            let extra = unsafe { next.as_ref() }?;
            next = extra.next;
            Some(&*extra.stripe)
        })
    }

    /// Every stripe, fixed then extra, each held in turn (waiting for its holder to finish) until
    /// the caller drops it.
    pub(crate) fn hold_each(&self) -> impl Iterator<Item = Held<'_, S>> {
        self.fixed().iter().map(|stripe| &**stripe).chain(self.extras()).map(Claimable::claim_waiting)
    }

    /// The fixed stripes' address and number, for a bound handle that claims its home stripe
    /// without reading these stripes' header (see [`HomeStripes`]).
    pub(crate) fn home_stripes(&self) -> HomeStripes<S> {
        HomeStripes { first: NonNull::from(self.fixed()).cast(), mask: self.fixed().len() - 1 }
    }

    /// The number of extra stripes made so far.
    #[cfg(all(test, not(nanotel_loom)))]
    pub(crate) fn extra_count(&self) -> usize {
        self.extras().count()
    }
}

impl<S, F> Drop for Stripes<S, F> {
    fn drop(&mut self) {
        // Relaxed: `&mut self` means no other thread reaches the list any more.
        let mut next = self.extras.load(Ordering::Relaxed).cast_const();
        while !next.is_null() {
            // SAFETY: each extra was made by `Box::into_raw` in `push_extra` and is freed once,
            // here; `next` was read before the box is freed.
            let extra = unsafe { Box::from_raw(next.cast_mut()) };
            next = extra.next;
        }
    }
}

#[cfg(all(test, not(nanotel_loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_held_stripe_sends_records_elsewhere_and_extras_are_made_only_when_all_are_held() {
        let stripes = Stripes::new(2, || 0u64);
        let mut first = stripes.claim(5, || 0);
        first.with(|n| *n += 1);
        // Slot 5 is stripe 1, held: slot 1 takes stripe 0.
        let mut second = stripes.claim(1, || 0);
        second.with(|n| *n += 10);
        assert_eq!(stripes.extra_count(), 0);
        let mut third = stripes.claim(usize::MAX, || 0);
        third.with(|n| *n += 100);
        assert_eq!(stripes.extra_count(), 1, "every fixed stripe held: an extra");
        drop((first, second, third));
        // Released, the extra is reused rather than a new one made.
        let (a, b) = (stripes.claim(0, || 0), stripes.claim(0, || 0));
        let mut c = stripes.claim(0, || 0);
        c.with(|n| *n += 1000);
        assert_eq!(stripes.extra_count(), 1);
        drop((a, b, c));
        let total: u64 = stripes.hold_each().map(|mut held| held.with(|n| *n)).sum();
        assert_eq!(total, 1111);
    }
}
