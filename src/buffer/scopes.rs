//! The instrumentation scopes of one provider, numbered so a record carries a `u32` instead of a
//! reference-counted pointer (no shared counter touched on the hot path).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::proto::common::v1::InstrumentationScope;

/// The instrumentation scope items are grouped under, shared by every item it produced.
pub type Scope = Arc<InstrumentationScope>;

/// A provider's scopes, in the order they were first asked for. Entries are never removed, so an
/// index handed out stays valid for the provider's life.
#[derive(Default)]
pub(crate) struct ScopeList {
    scopes: Mutex<Scopes>,
}

#[derive(Default)]
struct Scopes {
    list: Vec<Scope>,
    /// The indices of each name's scopes, so that finding one compares only scopes of its name:
    /// a program that makes a tracer per request under a name of its own would otherwise pay a
    /// scan of every scope so far for each (30,000 new scopes took 1.1 s; 12 ms with this index).
    by_name: HashMap<String, Vec<u32>>,
}

impl ScopeList {
    /// The index of `scope`, added if new. One index per scope, so a scope's records are batched
    /// together however many tracers or loggers share it. Called when a tracer or logger is made,
    /// never on the hot path.
    pub(crate) fn index_of(&self, scope: InstrumentationScope) -> u32 {
        let mut scopes = self.lock();
        let Scopes { list, by_name } = &mut *scopes;
        let mut same_name = by_name.get(&scope.name).into_iter().flatten();
        if let Some(&index) = same_name.find(|&&index| *list[index as usize] == scope) {
            return index;
        }
        let index = list.len() as u32;
        by_name.entry(scope.name.clone()).or_default().push(index);
        list.push(Arc::new(scope));
        index
    }

    /// The index of the scope named `name` at `version` (no attributes), added if
    /// new: [`index_of`](Self::index_of) without making the scope first, so a tracer or logger
    /// looked up again (as `nanotel::global::tracer(name)` does at each call) allocates nothing
    /// (until session 42 it copied the name and version every time).
    pub(crate) fn index_of_named(&self, name: &str, version: &str) -> u32 {
        let scopes = self.lock();
        let plain = |scope: &InstrumentationScope| {
            scope.version == version && scope.attributes.is_empty() && scope.dropped_attributes_count == 0
        };
        let same_name = scopes.by_name.get(name).into_iter().flatten();
        if let Some(&index) = same_name.into_iter().find(|&&index| plain(&scopes.list[index as usize])) {
            return index;
        }
        drop(scopes);
        self.index_of(InstrumentationScope { name: name.to_owned(), version: version.to_owned(), ..Default::default() })
    }

    /// A reader for the exporter thread's drain: a copy of the list, extended when it meets an
    /// index made after the copy.
    pub(crate) fn reader(&self) -> ScopeReader<'_> {
        ScopeReader { list: self, copy: self.lock().list.clone() }
    }

    /// Appends to `copy` the scopes added since it was made (entries never move or go).
    fn extend(&self, copy: &mut Vec<Scope>) {
        if let Some(added) = self.lock().list.get(copy.len()..) {
            copy.extend_from_slice(added);
        }
    }

    fn lock(&self) -> MutexGuard<'_, Scopes> {
        self.scopes.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// See [`ScopeList::reader`].
pub(crate) struct ScopeReader<'a> {
    list: &'a ScopeList,
    copy: Vec<Scope>,
}

impl ScopeReader<'_> {
    /// The scope of `index`. A tracer or logger made since the copy may already have recorded: its
    /// scope was added before it could record, so a fresh copy has it.
    pub(crate) fn get(&mut self, index: u32) -> Option<&Scope> {
        if self.copy.get(index as usize).is_none() {
            self.list.extend(&mut self.copy);
        }
        self.copy.get(index as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::common::v1::KeyValue;

    fn scope(name: &str) -> InstrumentationScope {
        InstrumentationScope { name: name.into(), ..Default::default() }
    }

    #[test]
    fn one_index_per_scope_and_late_scopes_are_found() {
        let list = ScopeList::default();
        assert_eq!(list.index_of(scope("a")), 0);
        let mut reader = list.reader();
        assert_eq!(list.index_of(scope("b")), 1);
        assert_eq!(list.index_of(scope("a")), 0);
        assert_eq!(reader.get(1).map(|s| s.name.as_str()), Some("b"), "added after the copy");
        assert_eq!(reader.get(0).map(|s| s.name.as_str()), Some("a"));
        assert!(reader.get(2).is_none());
    }

    /// Scopes of one name differ by version and attributes: each is a scope of its own.
    #[test]
    fn scopes_of_one_name_are_told_apart() {
        let list = ScopeList::default();
        let versioned = InstrumentationScope { version: "1.2".into(), ..scope("a") };
        let attributes = vec![KeyValue { key: "k".into(), ..Default::default() }];
        let attributed = InstrumentationScope { attributes, ..scope("a") };
        let indices: Vec<u32> =
            [scope("a"), versioned.clone(), attributed.clone(), scope("b"), versioned, attributed, scope("a")]
                .into_iter()
                .map(|scope| list.index_of(scope))
                .collect();
        assert_eq!(indices, [0, 1, 2, 3, 1, 2, 0]);
        assert_eq!(list.index_of_named("a", ""), 0, "the plain scope, not the one with attributes");
        assert_eq!(list.index_of_named("a", "1.2"), 1);
        assert_eq!(list.index_of_named("c", ""), 4, "added");
        assert_eq!(list.index_of(scope("c")), 4);
        let mut reader = list.reader();
        assert_eq!(reader.get(1).map(|s| s.version.as_str()), Some("1.2"));
    }
}
