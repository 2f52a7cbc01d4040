//! The instrumentation scopes of one provider, numbered so a record carries a `u32` instead of a
//! reference-counted pointer (no shared counter touched on the hot path).

use std::sync::{Arc, Mutex};

use crate::proto::common::v1::InstrumentationScope;

/// The instrumentation scope items are grouped under, shared by every item it produced.
pub type Scope = Arc<InstrumentationScope>;

/// A provider's scopes, in the order they were first asked for. Entries are never removed, so an
/// index handed out stays valid for the provider's life.
#[derive(Default)]
pub(crate) struct ScopeList {
    scopes: Mutex<Vec<Scope>>,
}

impl ScopeList {
    /// The index of `scope`, added if new. One index per scope, so a scope's records are batched
    /// together however many tracers or loggers share it. Called when a tracer or logger is made,
    /// never on the hot path.
    pub(crate) fn index_of(&self, scope: InstrumentationScope) -> u32 {
        let mut scopes = self.scopes.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(index) = scopes.iter().position(|known| **known == scope) {
            index as u32
        } else {
            scopes.push(Arc::new(scope));
            (scopes.len() - 1) as u32
        }
    }

    /// A reader for the exporter thread's drain: a copy of the list, refreshed when it meets an
    /// index made after the copy.
    pub(crate) fn reader(&self) -> ScopeReader<'_> {
        ScopeReader { list: self, copy: self.copy() }
    }

    fn copy(&self) -> Vec<Scope> {
        self.scopes.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
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
            self.copy = self.list.copy();
        }
        self.copy.get(index as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
