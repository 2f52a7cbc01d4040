//! The recorder's maps for one kind: metric name to instrument, and key (name and labels) to the
//! handle of its bound series.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use metrics::Key;
use parking_lot::{Mutex, RwLock};

use crate::attributes::KeyValue;
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

/// Handles by key; `None` for a key whose name was refused (its handles are no-ops).
type Series<H> = HashMap<Key, Option<Arc<H>>, BuildHasherDefault<KeyHasher>>;

/// One kind's instruments and series handles.
pub(super) struct Registry<K: Kind> {
    /// Instruments by metric name; `None` for a refused name (reported once).
    instruments: Mutex<HashMap<String, Option<K::Instrument>>>,
    series: RwLock<Series<K::Handle>>,
}

impl<K: Kind> Registry<K> {
    pub(super) fn new() -> Self {
        Registry { instruments: Mutex::new(HashMap::new()), series: RwLock::new(Series::default()) }
    }

    /// The handle of `key`'s series, bound on first use; `None` when its name was refused.
    #[inline]
    pub(super) fn handle(&self, meter: &Meter, key: &Key) -> Option<Arc<K::Handle>> {
        if let Some(found) = self.series.read().get(key) {
            return found.clone();
        }
        self.register(meter, key)
    }

    /// Binds `key`'s series. Two threads registering one key at once may both bind (the same
    /// series); the first handle stored is the one both return.
    #[cold]
    fn register(&self, meter: &Meter, key: &Key) -> Option<Arc<K::Handle>> {
        let handle = self.with_instrument(meter, key.name(), |instrument| {
            let attributes: Vec<KeyValue> = key
                .labels()
                .map(|label| KeyValue::new(Arc::<str>::from(label.key()), Arc::<str>::from(label.value())))
                .collect();
            Arc::new(K::bind(instrument, &attributes))
        });
        self.series.write().entry(key.to_retained()).or_insert(handle).clone()
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
