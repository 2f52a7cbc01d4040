//! A span's attributes: the first few held in place, so a typical span never allocates.

use std::mem::{ManuallyDrop, MaybeUninit};
use std::ptr::{self, addr_of_mut};

use crate::attributes::KeyValue;

/// How many attributes a span holds without allocating. A span with more spills the rest into
/// a heap vector (still bounded by the attribute count limit).
pub const INLINE_ATTRIBUTES: usize = 8;

/// Attributes with unique keys, in the order first set, and the number cut by the count limit.
///
/// The inline slots are uninitialised until used, so making a span's attributes writes three
/// small fields, not the whole array.
#[repr(C)] // The counts first, then the slots in order: a span touches only the lines it uses.
pub(crate) struct Attributes {
    spill: Vec<KeyValue>,
    pub(crate) dropped: u32,
    inline_len: u8,
    /// The first `inline_len` are initialised.
    inline: [MaybeUninit<KeyValue>; INLINE_ATTRIBUTES],
}

impl Attributes {
    #[cfg(test)]
    pub(crate) const fn new() -> Attributes {
        Attributes {
            inline: [const { MaybeUninit::uninit() }; INLINE_ATTRIBUTES],
            inline_len: 0,
            spill: Vec::new(),
            dropped: 0,
        }
    }

    /// Makes empty attributes at `this`, writing only the counts and the (empty) spill vector.
    ///
    /// # Safety
    /// `this` must be valid for writes and properly aligned; whatever it held is overwritten
    /// without being dropped.
    #[inline(always)]
    pub(crate) unsafe fn init(this: *mut Attributes) {
        // SAFETY: the caller guarantees `this` is valid for writes; the inline slots may stay
        // uninitialised because `inline_len` (0) says none is in use.
        unsafe {
            addr_of_mut!((*this).inline_len).write(0);
            addr_of_mut!((*this).spill).write(Vec::new());
            addr_of_mut!((*this).dropped).write(0);
        }
    }

    /// How many attributes are held.
    pub(crate) fn len(&self) -> usize {
        self.inline_len as usize + self.spill.len()
    }

    fn inline_mut(&mut self) -> &mut [KeyValue] {
        let used = &mut self.inline[..self.inline_len as usize];
        // SAFETY: the first `inline_len` slots are initialised, and `MaybeUninit<T>` has `T`'s
        // layout.
        unsafe { &mut *(used as *mut [MaybeUninit<KeyValue>] as *mut [KeyValue]) }
    }

    fn inline(&self) -> &[KeyValue] {
        let used = &self.inline[..self.inline_len as usize];
        // SAFETY: as in `inline_mut`.
        unsafe { &*(used as *const [MaybeUninit<KeyValue>] as *const [KeyValue]) }
    }

    /// Sets `attribute`, replacing the value of an existing key; a new key beyond `limit` is
    /// dropped and counted.
    #[inline(always)]
    pub(crate) fn set(&mut self, attribute: KeyValue, limit: usize) {
        let attribute = ManuallyDrop::new(attribute);
        // SAFETY: `attribute` is not used or dropped after this call.
        unsafe { self.set_from(&attribute, limit) }
    }

    /// [`Attributes::set`], reading the attribute where the caller made it.
    ///
    /// Taken by reference and read once, where it goes, the attribute is usually never made at
    /// all: inlined into the caller, whose key and value are known, the read becomes a few
    /// stores of those values straight into the slot. Taken by value, it is built on the stack
    /// first (the paths that drop it need it there) and copied over in wide loads that straddle
    /// the narrower stores that built it, which the processor cannot forward: a stall of a dozen
    /// cycles each (about 10 ns more for a span with two attributes, measured).
    ///
    /// # Safety
    /// Takes ownership of `*attribute`: the caller must neither use nor drop it afterwards.
    #[inline(always)]
    pub(crate) unsafe fn set_from(&mut self, attribute: &ManuallyDrop<KeyValue>, limit: usize) {
        // SAFETY (for every `ptr::read` below): the caller hands over ownership of `*attribute`,
        // and each part is read out exactly once on each path.
        let key = &attribute.key;
        let inline = &mut self.inline[..self.inline_len as usize];
        // SAFETY: the first `inline_len` slots are initialised (as in `inline_mut`, which would
        // borrow all of `self`).
        let inline = unsafe { &mut *(inline as *mut [MaybeUninit<KeyValue>] as *mut [KeyValue]) };
        let existing = inline.iter_mut().chain(self.spill.iter_mut()).find(|held| held.key == *key);
        if let Some(held) = existing {
            unsafe {
                held.value = ptr::read(&attribute.value);
                drop(ptr::read(&attribute.key));
            }
        } else if self.len() >= limit {
            self.dropped = self.dropped.saturating_add(1);
            drop(unsafe { ptr::read(&**attribute) });
        } else if let Some(slot) = self.inline.get_mut(self.inline_len as usize) {
            slot.write(unsafe { ptr::read(&**attribute) });
            self.inline_len += 1;
        } else {
            self.spill.push(unsafe { ptr::read(&**attribute) });
        }
    }

    /// The attributes, in the order first set.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &KeyValue> {
        self.inline().iter().chain(self.spill.iter())
    }
}

impl Drop for Attributes {
    fn drop(&mut self) {
        // SAFETY: the first `inline_len` slots are initialised and dropped once, here.
        unsafe { std::ptr::drop_in_place(self.inline_mut()) }
    }
}

/// Collects `attributes` into a vector of at most `limit` unique keys, returning it and how many
/// were dropped (used for events and links, which allocate anyway).
pub(crate) fn collect_limited(attributes: impl IntoIterator<Item = KeyValue>, limit: usize) -> (Vec<KeyValue>, u32) {
    let mut kept: Vec<KeyValue> = Vec::new();
    let mut dropped = 0u32;
    for attribute in attributes {
        if let Some(held) = kept.iter_mut().find(|held| held.key == attribute.key) {
            held.value = attribute.value;
        } else if kept.len() < limit {
            kept.push(attribute);
        } else {
            dropped = dropped.saturating_add(1);
        }
    }
    (kept, dropped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_stay_unique_and_the_limit_counts_new_keys_only() {
        let mut attributes = Attributes::new();
        for i in 0..12 {
            attributes.set(KeyValue::new(format!("k{i}"), i), 10);
        }
        attributes.set(KeyValue::new("k0", 100), 10);
        attributes.set(KeyValue::new("k9", 900), 10);
        assert_eq!(attributes.len(), 10);
        assert_eq!(attributes.dropped, 2);
        let values: Vec<String> = attributes.iter().map(|kv| format!("{}={}", kv.key, kv.value)).collect();
        assert_eq!(values[0], "k0=100");
        assert_eq!(values[9], "k9=900");
        let (kept, dropped) = collect_limited([KeyValue::new("a", 1), KeyValue::new("a", 2), KeyValue::new("b", 3)], 1);
        assert_eq!((kept, dropped), (vec![KeyValue::new("a", 2)], 1));
    }
}
