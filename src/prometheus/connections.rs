//! The bound on open connections: past it, the oldest idle connection (no request in progress)
//! is closed to make room, and a connection with a request in progress is never shed; when every
//! connection is busy, the next one waits for one to end.

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::Notify;
use tokio::task::AbortHandle;

/// The open connections of one endpoint, in the order they were accepted.
pub(super) struct Connections {
    limit: usize,
    open: Mutex<Open>,
    /// Signalled whenever a connection ends, for an accept waiting on a full bound.
    room: Notify,
}

#[derive(Default)]
struct Open {
    next_id: u64,
    /// Keyed by accept order, so the first idle entry is the oldest.
    entries: BTreeMap<u64, Entry>,
}

#[derive(Default)]
struct Entry {
    busy: bool,
    /// Set right after the connection's task is spawned; only then can it be shed.
    task: Option<AbortHandle>,
}

/// A connection's place in the bound, given back when dropped (its task ended or was shed).
pub(super) struct Ticket {
    connections: Arc<Connections>,
    id: u64,
}

impl Connections {
    pub(super) fn new(limit: usize) -> Arc<Self> {
        Arc::new(Connections { limit: limit.max(1), open: Mutex::new(Open::default()), room: Notify::new() })
    }

    /// Returns once a new connection fits: at once below the bound, else after shedding the
    /// oldest idle connection, else (all busy) once one ends.
    pub(super) async fn make_room(&self) {
        loop {
            let shed = {
                let mut open = self.open.lock();
                if open.entries.len() < self.limit {
                    return;
                }
                open.take_oldest_idle()
            };
            match shed {
                // Aborted outside the lock: dropping the task drops its ticket, which takes it.
                Some(task) => return task.abort(),
                // `notify_one` keeps a permit when nobody waits, so an end in between is not missed.
                None => self.room.notified().await,
            }
        }
    }

    /// Counts a new connection in; [`Connections::spawned`] then makes it sheddable.
    pub(super) fn admit(self: &Arc<Self>) -> Ticket {
        let mut open = self.open.lock();
        let id = open.next_id;
        open.next_id += 1;
        open.entries.insert(id, Entry::default());
        Ticket { connections: self.clone(), id }
    }

    /// Notes the task serving `ticket`'s connection, to abort should it be shed while idle.
    pub(super) fn spawned(&self, id: u64, task: AbortHandle) {
        if let Some(entry) = self.open.lock().entries.get_mut(&id) {
            entry.task = Some(task);
        }
    }

    /// How many connections are open now.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.open.lock().entries.len()
    }
}

impl Open {
    fn take_oldest_idle(&mut self) -> Option<AbortHandle> {
        let id = *self.entries.iter().find(|(_, entry)| !entry.busy && entry.task.is_some())?.0;
        self.entries.remove(&id)?.task
    }
}

impl Ticket {
    pub(super) fn id(&self) -> u64 {
        self.id
    }

    /// A request arrived on this connection: from now on it is never shed.
    pub(super) fn busy(&self) {
        if let Some(entry) = self.connections.open.lock().entries.get_mut(&self.id) {
            entry.busy = true;
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        // Absent already when the connection was shed.
        self.connections.open.lock().entries.remove(&self.id);
        self.connections.room.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap()
    }

    /// Admits a connection served by a task that waits forever, holding its ticket.
    fn open(connections: &Arc<Connections>) -> (Arc<Ticket>, tokio::task::JoinHandle<()>) {
        let ticket = Arc::new(connections.admit());
        let held = ticket.clone();
        let task = tokio::spawn(async move {
            let _held = held;
            std::future::pending::<()>().await;
        });
        connections.spawned(ticket.id(), task.abort_handle());
        (ticket, task)
    }

    #[test]
    fn the_oldest_idle_connection_is_shed_never_a_busy_one() {
        runtime().block_on(async {
            let connections = Connections::new(3);
            let (oldest, oldest_task) = open(&connections);
            let (_second, second_task) = open(&connections);
            let (_third, third_task) = open(&connections);
            oldest.busy();
            connections.make_room().await;
            assert_eq!(connections.len(), 2, "one place was made");
            assert!(second_task.await.unwrap_err().is_cancelled(), "the oldest idle one went");
            assert!(!oldest_task.is_finished() && !third_task.is_finished(), "the busy and the newer stay");
        });
    }

    #[test]
    fn with_every_connection_busy_a_new_one_waits_for_one_to_end() {
        runtime().block_on(async {
            let connections = Connections::new(2);
            let (first, first_task) = open(&connections);
            let (second, _second_task) = open(&connections);
            first.busy();
            second.busy();
            let waited = tokio::time::timeout(Duration::from_millis(50), connections.make_room()).await;
            assert!(waited.is_err(), "no room while both are busy");
            drop(first);
            first_task.abort();
            tokio::time::timeout(Duration::from_secs(5), connections.make_room()).await.expect("room once one ended");
            assert_eq!(connections.len(), 1);
        });
    }
}
