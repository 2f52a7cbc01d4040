//! A record's attributes (a span's or a log record's): the first few held in place, so a typical record never
//! allocates.

use std::mem::{ManuallyDrop, MaybeUninit};
use std::ptr::{self, addr_of_mut};

use crate::attributes::KeyValue;

/// How many attributes a span holds without allocating. A span with more spills the rest into
/// a heap vector (still bounded by the attribute count limit).
pub const INLINE_ATTRIBUTES: usize = 8;

/// Attributes in the order first set (each key once, as [`Attributes::unique`] gives them), and the
/// number cut by the count limit.
///
/// The inline slots are uninitialised until used, so making a span's attributes writes three
/// small fields, not the whole array.
#[repr(C)] // The counts first, then the slots in order: a span touches only the lines it uses.
pub(crate) struct Attributes {
    spill: Vec<KeyValue>,
    pub(crate) dropped: u32,
    inline_len: u8,
    /// How often `spill` grew (allocations, saturating): counted when the span is exported.
    spill_allocations: u8,
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
            spill_allocations: 0,
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
            addr_of_mut!((*this).spill_allocations).write(0);
        }
    }

    /// Moves the attributes at `src` to `dst`, copying the counts, the spill vector and only the
    /// inline slots in use: a record with two attributes moves two slots, not eight.
    ///
    /// # Safety
    /// `src` must point to attributes the caller hands over (neither used nor dropped afterwards);
    /// `dst` must be valid for writes, aligned, and not overlap `src`; whatever it held is
    /// overwritten without being dropped.
    #[inline(always)]
    pub(crate) unsafe fn move_to(src: *const Attributes, dst: *mut Attributes) {
        // SAFETY: the caller guarantees both pointers; each field is read out of `src` once, and
        // the slots copied are the initialised ones (`inline_len` says how many), so `dst` holds
        // exactly what `src` held and `src` is not dropped.
        unsafe {
            let len = (*src).inline_len;
            addr_of_mut!((*dst).spill).write(ptr::read(&raw const (*src).spill));
            addr_of_mut!((*dst).dropped).write((*src).dropped);
            addr_of_mut!((*dst).inline_len).write(len);
            addr_of_mut!((*dst).spill_allocations).write((*src).spill_allocations);
            let from = (&raw const (*src).inline).cast::<MaybeUninit<KeyValue>>();
            let to = addr_of_mut!((*dst).inline).cast::<MaybeUninit<KeyValue>>();
            ptr::copy_nonoverlapping(from, to, usize::from(len));
        }
    }

    /// How many attributes are held (a key set again counts again until it is folded).
    pub(crate) fn len(&self) -> usize {
        self.inline_len as usize + self.spill.len()
    }

    fn inline_mut(&mut self) -> &mut [KeyValue] {
        // SAFETY: the first `inline_len` slots are initialised.
        unsafe { initialised_mut(&mut self.inline[..self.inline_len as usize]) }
    }

    fn inline(&self) -> &[KeyValue] {
        let used = &self.inline[..self.inline_len as usize];
        // SAFETY: as in `inline_mut`.
        unsafe { &*(std::ptr::from_ref::<[MaybeUninit<KeyValue>]>(used) as *const [KeyValue]) }
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
    /// While an inline slot is free and the limit is not reached, the attribute is appended
    /// without looking for its key: a key set again is folded into its first occurrence later
    /// (see `fold_repeated_keys`), when the slots run out or the span is encoded.
    ///
    /// # Safety
    /// Takes ownership of `*attribute`: the caller must neither use nor drop it afterwards.
    #[inline(always)]
    pub(crate) unsafe fn set_from(&mut self, attribute: &ManuallyDrop<KeyValue>, limit: usize) {
        let len = self.inline_len as usize;
        if len < INLINE_ATTRIBUTES && len < limit {
            // SAFETY: the caller hands over `*attribute`, read out once, here.
            self.inline[len].write(unsafe { ptr::read(&raw const **attribute) });
            self.inline_len += 1;
        } else {
            // SAFETY: as above.
            self.set_checked(unsafe { ptr::read(&raw const **attribute) }, limit);
        }
    }

    /// [`Attributes::set`] once the inline slots are full or the limit is reached: repeated keys
    /// are folded first, then `attribute`'s key is looked for.
    #[cold]
    #[inline(never)]
    fn set_checked(&mut self, attribute: KeyValue, limit: usize) {
        self.fold_repeated_keys();
        // SAFETY: the first `inline_len` slots are initialised (as in `inline_mut`, which would
        // borrow all of `self`).
        let inline = unsafe { initialised_mut(&mut self.inline[..self.inline_len as usize]) };
        let existing = inline.iter_mut().chain(self.spill.iter_mut()).find(|held| held.key == attribute.key);
        if let Some(held) = existing {
            held.value = attribute.value;
        } else if self.len() >= limit {
            self.dropped = self.dropped.saturating_add(1);
        } else if let Some(slot) = self.inline.get_mut(self.inline_len as usize) {
            slot.write(attribute);
            self.inline_len += 1;
        } else {
            if self.spill.len() == self.spill.capacity() {
                self.spill_allocations = self.spill_allocations.saturating_add(1);
            }
            self.spill.push(attribute);
        }
    }

    /// How many allocations the attributes past the inline slots made.
    pub(crate) fn spill_allocations(&self) -> u8 {
        self.spill_allocations
    }

    /// Folds each repeated key into its first occurrence: the value set last wins, in the place
    /// the key was first set. Only the inline slots can hold a key twice: an attribute reaches the
    /// spill vector only through `set_checked`, which folds and looks for its key first.
    fn fold_repeated_keys(&mut self) {
        let len = self.inline_len as usize;
        // Counted as empty until done, so that nothing is dropped twice should a drop unwind.
        self.inline_len = 0;
        let mut kept = 0;
        for index in 0..len {
            // SAFETY: slot `index` is initialised (below the old `inline_len`) and read out once;
            // slots below `kept` hold the attributes kept so far.
            let attribute = unsafe { self.inline[index].assume_init_read() };
            // SAFETY: as just said.
            let held = unsafe { initialised_mut(&mut self.inline[..kept]) };
            if let Some(first) = held.iter_mut().find(|held| held.key == attribute.key) {
                first.value = attribute.value;
            } else {
                // Slot `kept` was read out already (it is `index`, or one folded away).
                self.inline[kept].write(attribute);
                kept += 1;
            }
        }
        self.inline_len = kept as u8;
    }

    /// Whether an attribute with `key` is held.
    pub(crate) fn contains_key(&self, key: &str) -> bool {
        self.held().any(|held| held.key.as_str() == key)
    }

    /// The attributes, in the order first set, each key once.
    pub(crate) fn unique(&mut self) -> impl Iterator<Item = &KeyValue> {
        self.fold_repeated_keys();
        self.held()
    }

    /// Folds each repeated key into its first occurrence, as [`unique`](Self::unique) does, for a
    /// reader that walks the attributes more than once with [`held`](Self::held) (the wire
    /// encoding measures, then writes).
    pub(crate) fn fold(&mut self) {
        self.fold_repeated_keys();
    }

    /// The attributes held, in the order set (a key set again may appear twice until folded).
    pub(crate) fn held(&self) -> impl Iterator<Item = &KeyValue> {
        self.inline().iter().chain(self.spill.iter())
    }
}

/// `slots` as the attributes they hold.
///
/// # Safety
/// Every one of `slots` must be initialised.
unsafe fn initialised_mut(slots: &mut [MaybeUninit<KeyValue>]) -> &mut [KeyValue] {
    // SAFETY: the caller guarantees the slots are initialised, and `MaybeUninit<T>` has `T`'s
    // layout.
    unsafe { &mut *(std::ptr::from_mut::<[MaybeUninit<KeyValue>]>(slots) as *mut [KeyValue]) }
}

impl Drop for Attributes {
    fn drop(&mut self) {
        // SAFETY: the first `inline_len` slots are initialised and dropped once, here.
        unsafe { std::ptr::drop_in_place(self.inline_mut()) }
    }
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
        let values: Vec<String> = attributes.unique().map(|kv| format!("{}={}", kv.key, kv.value)).collect();
        assert_eq!(values[0], "k0=100");
        assert_eq!(values[9], "k9=900");
    }

    #[test]
    fn a_key_set_again_keeps_its_first_place_and_its_last_value() {
        let names = |attributes: &mut Attributes| -> Vec<String> {
            attributes.unique().map(|kv| format!("{}={}", kv.key, kv.value)).collect()
        };
        // Within the inline slots: folded when read.
        let mut attributes = Attributes::new();
        for (key, value) in [("a", 1), ("b", 2), ("a", 3), ("c", 4), ("b", 5)] {
            attributes.set(KeyValue::new(key, value), 128);
        }
        assert_eq!(names(&mut attributes), ["a=3", "b=5", "c=4"]);
        assert_eq!(attributes.len(), 3);

        // Repeats fill the inline slots: folded before a new key is refused or spilled.
        let mut attributes = Attributes::new();
        for value in 0..20 {
            attributes.set(KeyValue::new("same", value), 3);
        }
        attributes.set(KeyValue::new("other", 1), 3);
        attributes.set(KeyValue::new("third", 1), 3);
        attributes.set(KeyValue::new("fourth", 1), 3);
        assert_eq!(attributes.dropped, 1, "only the key over the limit is cut");
        assert_eq!(names(&mut attributes), ["same=19", "other=1", "third=1"]);

        // Past the inline slots, keys are looked for before they spill, so none repeats.
        let mut attributes = Attributes::new();
        for i in 0..12 {
            attributes.set(KeyValue::new(format!("k{i}"), i), 128);
        }
        attributes.set(KeyValue::new("k3", 30), 128);
        attributes.set(KeyValue::new("k10", 100), 128);
        attributes.set(KeyValue::new("k3", 31), 128);
        let all = names(&mut attributes);
        assert_eq!(all.len(), 12);
        assert_eq!((all[3].as_str(), all[10].as_str()), ("k3=31", "k10=100"));
    }

    #[test]
    fn moved_attributes_hold_the_same_values_and_are_dropped_once() {
        let shared: std::sync::Arc<str> = std::sync::Arc::from("shared");
        let value = || crate::attributes::Value::Str(crate::attributes::Text::Shared(shared.clone()));
        for count in [0, 2, INLINE_ATTRIBUTES, INLINE_ATTRIBUTES + 3] {
            let mut source = ManuallyDrop::new(Attributes::new());
            for i in 0..count {
                source.set(KeyValue::new(format!("k{i}"), value()), 128);
            }
            source.set(KeyValue::new("over", 1), count);
            let mut moved = MaybeUninit::<Attributes>::uninit();
            // SAFETY: `source` is handed over (in `ManuallyDrop`, never used again); `moved` is
            // valid for writes and separate from it.
            let mut moved = unsafe {
                Attributes::move_to(&raw const *source, moved.as_mut_ptr());
                moved.assume_init()
            };
            assert_eq!((moved.len(), moved.dropped), (count, 1), "{count} attributes");
            let keys: Vec<String> = moved.unique().map(|kv| kv.key.to_string()).collect();
            assert_eq!(keys, (0..count).map(|i| format!("k{i}")).collect::<Vec<_>>());
            assert_eq!(std::sync::Arc::strong_count(&shared), 1 + count);
            drop(moved);
            assert_eq!(std::sync::Arc::strong_count(&shared), 1, "each value dropped once");
        }
    }
}
