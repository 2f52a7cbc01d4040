//! The recorder's maps for one kind: metric name to instrument, and key (name and labels) to the
//! handle of its bound series.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use metrics::Key;
use parking_lot::{Mutex, RwLock};

use crate::attributes::KeyValue;
use crate::metrics::series_map::Standing;
use crate::metrics::Meter;

use super::kinds::Kind;

/// Takes the hash a [`Key`] already carries (its `Hash` writes only that `u64`), instead of
/// hashing it again on every `register_*`.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    /// Not reached by `Key`; mixes the bytes in so any other use still hashes.
    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*byte);
        }
    }

    fn write_u64(&mut self, hash: u64) {
        self.0 = hash;
    }
}

/// A key's handle, and whether it was bound to the overflow series.
struct Entry<H> {
    handle: Arc<H>,
    overflow: bool,
}

/// Handles by key; `None` for a key whose name was refused (its handles are no-ops).
type Handles<H> = HashMap<Key, Option<Entry<H>>, BuildHasherDefault<KeyHasher>>;

/// How often at most the registry looks for handles to let go (see [`Registry::let_go`]).
const LET_GO_EVERY: Duration = Duration::from_millis(100);

/// Whether the registry may let go of `entry`, the handle of `key`: nothing else holds it, and its
/// series was idle at the last exporting collection, or is the overflow series while the
/// instrument (`has_room` by name) has room.
fn may_let_go<K: Kind>(key: &Key, entry: Option<&Entry<K::Handle>>, has_room: impl Fn(&str) -> bool) -> bool {
    let Some(Entry { handle, .. }) = entry else { return false };
    Arc::strong_count(handle) == 1
        && match K::standing(handle) {
            Standing::Live => false,
            Standing::Idle => true,
            Standing::Overflow => has_room(key.name()),
        }
}

/// One kind's instruments and series handles.
pub(super) struct Registry<K: Kind> {
    /// Instruments by metric name; `None` for a refused name (reported once).
    instruments: Mutex<HashMap<String, Option<K::Instrument>>>,
    handles: RwLock<Handles<K::Handle>>,
    /// When the registry next looks for handles to let go, in nanoseconds from `born`.
    next_let_go: AtomicU64,
    born: Instant,
}

impl<K: Kind> Registry<K> {
    pub(super) fn new() -> Self {
        Registry {
            instruments: Mutex::new(HashMap::new()),
            handles: RwLock::new(Handles::default()),
            next_let_go: AtomicU64::new(0),
            born: Instant::now(),
        }
    }

    /// The handle of `key`'s series, bound on first use; `None` when its name was refused. A key
    /// bound to the overflow series is looked at again when it is time to let go of handles.
    #[inline]
    pub(super) fn handle(&self, meter: &Meter, key: &Key) -> Option<Arc<K::Handle>> {
        if let Some(found) = self.handles.read().get(key) {
            match found {
                Some(entry) if entry.overflow && self.let_go_is_due() => {}
                _ => return found.as_ref().map(|entry| entry.handle.clone()),
            }
        }
        self.register(meter, key)
    }

    /// Binds `key`'s series, letting go of others' handles first when it is time to. Two
    /// threads registering one key at once may both bind (the same series); the first handle
    /// stored is the one both return.
    #[cold]
    fn register(&self, meter: &Meter, key: &Key) -> Option<Arc<K::Handle>> {
        self.let_go();
        if let Some(kept) = self.handles.read().get(key) {
            // Bound to the overflow series and not let go: the instrument has no room yet.
            return kept.as_ref().map(|entry| entry.handle.clone());
        }
        let entry = self.with_instrument(meter, key.name(), |instrument| {
            let attributes: Vec<KeyValue> = key
                .labels()
                .map(|label| KeyValue::new(Arc::<str>::from(label.key()), Arc::<str>::from(label.value())))
                .collect();
            let handle = K::bind(instrument, &attributes);
            let overflow = K::standing(&handle) == Standing::Overflow;
            Entry { handle: Arc::new(handle), overflow }
        });
        let mut handles = self.handles.write();
        handles.entry(key.to_retained()).or_insert(entry).as_ref().map(|entry| entry.handle.clone())
    }

    /// Nanoseconds since the registry was made.
    fn now(&self) -> u64 {
        u64::try_from(self.born.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    fn let_go_is_due(&self) -> bool {
        // Relaxed: a schedule; `let_go` claims each turn with its compare-and-swap.
        self.now() >= self.next_let_go.load(Ordering::Relaxed)
    }

    /// At most every [`LET_GO_EVERY`], drops the handles nothing else holds whose series an
    /// exporting collection found idle, so that those series can be evicted, and those of keys
    /// sent to the overflow series whose instrument has room now, so that they find a place of
    /// their own. A bound handle keeps its series: until session 41 a handle kept here for every
    /// key ever seen kept every series, and keys that come and go filled the cardinality limit
    /// for good. A key let go is bound again on its next use (an allocation, as at its first).
    /// The keys are looked over under the read lock, so that recording threads finding their
    /// handles are not held up by the look; only those let go are removed under the write lock.
    fn let_go(&self) {
        let now = self.now();
        // Relaxed: a schedule, as in `let_go_is_due`; the locks below order the work.
        let due = self.next_let_go.load(Ordering::Relaxed);
        let next = now.saturating_add(LET_GO_EVERY.as_nanos() as u64);
        if now < due || self.next_let_go.compare_exchange(due, next, Ordering::Relaxed, Ordering::Relaxed).is_err() {
            return;
        }
        let going: Vec<Key> = {
            let instruments = self.instruments.lock();
            let has_room = |name: &str| instruments.get(name).and_then(Option::as_ref).is_some_and(K::has_room);
            let handles = self.handles.read();
            let going = handles.iter().filter(|(key, entry)| may_let_go::<K>(key, entry.as_ref(), &has_room));
            going.map(|(key, _)| key.clone()).collect()
        };
        if going.is_empty() {
            return;
        }
        let mut handles = self.handles.write();
        for key in going {
            // Held again since the look (a thread took a clone of it): kept.
            if handles.get(&key).is_some_and(|entry| entry.as_ref().is_some_and(|e| Arc::strong_count(&e.handle) == 1))
            {
                handles.remove(&key);
            }
        }
    }

    /// Gives `name` a unit and description: built with them when not used yet, described again
    /// otherwise (exported from the next collection).
    pub(super) fn describe(&self, meter: &Meter, name: &str, unit: String, description: String) {
        let mut instruments = self.instruments.lock();
        match instruments.get(name) {
            Some(Some(instrument)) => K::describe(instrument, unit, description),
            Some(None) => {}
            None => {
                let built = build::<K>(meter, name, unit, description);
                instruments.insert(name.to_owned(), built);
            }
        }
    }

    /// Runs `f` on the instrument of `name` (built now when new); `None` when the name is refused.
    fn with_instrument<T>(&self, meter: &Meter, name: &str, f: impl FnOnce(&K::Instrument) -> T) -> Option<T> {
        let mut instruments = self.instruments.lock();
        let instrument =
            instruments.entry(name.to_owned()).or_insert_with(|| build::<K>(meter, name, String::new(), String::new()));
        instrument.as_ref().map(f)
    }
}

/// The instrument of `name`, or `None` (reported) when nanotel refuses the name or unit.
fn build<K: Kind>(meter: &Meter, name: &str, unit: String, description: String) -> Option<K::Instrument> {
    K::build(meter, name, unit, description)
        .map_err(|error| crate::diag::warning!("metrics recorder: {error}; its values are dropped"))
        .ok()
}
